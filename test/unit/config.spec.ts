/** Environment parsing: defaults from DESIGN.md, and a clear error for a bad value. */
import { ALL_SERVICES, loadConfig, maskUri, parseDuration, parseServices, parseUrls } from "../../lib/config";

it("defaults match the design's configuration table", () => {
	expect(loadConfig({})).toMatchObject({
		transporter: null,
		services: [...ALL_SERVICES],
		port: 3000,
		metricsPort: 3030,
		dbUri: null,
		dataDir: "./data",
		serializer: "JSON",
		apiToken: null,
		simCans: 10,
		simIntervalMs: 4000,
		simAutostart: true,
		reportRetentionMs: 3_600_000,
		requestTimeoutMs: 10_000,
		fullThreshold: 80
	});
});

it("FULL_THRESHOLD is a percentage", () => {
	expect(loadConfig({ FULL_THRESHOLD: "75.5" }).fullThreshold).toBe(75.5);
	for (const bad of ["-1", "101", "full"]) expect(() => loadConfig({ FULL_THRESHOLD: bad })).toThrow(/FULL_THRESHOLD must be a number from 0 to 100/);
});

it.each([
	["500", 500],
	["500ms", 500],
	["90s", 90_000],
	["15m", 900_000],
	["1h", 3_600_000],
	["1.5h", 5_400_000],
	["2d", 172_800_000]
])("duration %s is %i ms", (text, ms) => {
	expect(parseDuration(text, 0)).toBe(ms);
});

it.each(["1 hour", "-1s", "h", "1w"])("duration %s is refused", text => {
	expect(() => parseDuration(text, 0)).toThrow(/Invalid duration/);
});

it("SERVICES is a comma list of known services", () => {
	expect(parseServices(" rest, pilot ,,db ")).toEqual(["rest", "pilot", "db"]);
	expect(parseServices("")).toEqual([...ALL_SERVICES]);
	expect(() => parseServices("rest,mailer")).toThrow('Unknown service "mailer"');
});

it.each([
	["PORT", "http"],
	["SIM_CANS", "-2"],
	["SIM_INTERVAL_MS", "1.5"]
])("%s=%s is refused with the variable's name", (name, value) => {
	expect(() => loadConfig({ [name]: value })).toThrow(name);
});

it.each([["0"], ["false"], ["off"], ["no"]])("SIM_AUTOSTART=%s turns the simulator's autostart off", value => {
	expect(loadConfig({ SIM_AUTOSTART: value }).simAutostart).toBe(false);
});

it("SERIALIZER is one of the installed ones, matched without case", () => {
	expect(loadConfig({ SERIALIZER: "notepack" }).serializer).toBe("Notepack");
	expect(loadConfig({ SERIALIZER: "MsgPack" }).serializer).toBe("MsgPack");
	expect(() => loadConfig({ SERIALIZER: "Avro" })).toThrow('SERIALIZER must be one of JSON, MsgPack, Notepack, got "Avro"');
});

it("maskUri hides passwords in URLs, also in lists", () => {
	expect(maskUri("amqp://user:s3cret@host:5672,amqp://u2:p@h2")).toBe("amqp://user:***@host:5672,amqp://u2:***@h2");
	expect(maskUri("nats://127.0.0.1:4222")).toBe("nats://127.0.0.1:4222");
});

it("WEBHOOK_URLS is a comma list of http(s) URLs; none by default", () => {
	expect(loadConfig({}).webhookUrls).toEqual([]);
	expect(parseUrls(" https://ops.example.com/hooks/trash , http://10.0.0.5:8080/alerts?key=1,", "WEBHOOK_URLS")).toEqual([
		"https://ops.example.com/hooks/trash",
		"http://10.0.0.5:8080/alerts?key=1"
	]);
	expect(parseUrls("  ", "WEBHOOK_URLS")).toEqual([]);
});

it.each(["ops.example.com/hooks", "ftp://example.com/hooks", "https://ok.example.com,javascript:alert(1)", "http://"])(
	"WEBHOOK_URLS=%s is refused, naming the variable and the bad entry",
	value => {
		expect(() => loadConfig({ WEBHOOK_URLS: value })).toThrow(/^WEBHOOK_URLS must be a comma list of http\(s\) URLs, got "(?!https:\/\/ok)/);
	}
);

it("SILENT_AFTER is a duration, an hour by default", () => {
	expect(loadConfig({}).silentAfterMs).toBe(3_600_000);
	expect(loadConfig({ SILENT_AFTER: "15m" }).silentAfterMs).toBe(900_000);
	expect(() => loadConfig({ SILENT_AFTER: "soon" })).toThrow(/Invalid duration "soon"/);
});

it("SIM_AREA is a south,west,north,east box (central Tallinn when unset)", () => {
	expect(loadConfig({}).simArea).toEqual({ south: 59.41, west: 24.7, north: 59.45, east: 24.8 });
	expect(loadConfig({ SIM_AREA: "48.1, 11.5, 48.2, 11.65" }).simArea).toEqual({ south: 48.1, west: 11.5, north: 48.2, east: 11.65 });
	for (const bad of ["48.2,11.5,48.1,11.65", "1,2,3", "a,b,c,d", "-91,0,0,1"]) expect(() => loadConfig({ SIM_AREA: bad })).toThrow(/SIM_AREA must be/);
});

it("MAP_TILES is off by default, else an http(s) URL template with {z}, {x} and {y}", () => {
	expect(loadConfig({})).toMatchObject({ mapTiles: null, mapAttribution: "© OpenStreetMap contributors" });
	const osm = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
	expect(loadConfig({ MAP_TILES: osm, MAP_ATTRIBUTION: "tiles by us" })).toMatchObject({ mapTiles: osm, mapAttribution: "tiles by us" });
	expect(loadConfig({ MAP_TILES: "https://{s}.tiles.example/{z}/{x}/{y}@2x.png" }).mapTiles).toBe("https://{s}.tiles.example/{z}/{x}/{y}@2x.png");
	for (const bad of ["tile.openstreetmap.org/{z}/{x}/{y}.png", "javascript:alert(1)//{z}{x}{y}", "https://tiles.example/{z}/{x}.png"])
		expect(() => loadConfig({ MAP_TILES: bad })).toThrow(/MAP_TILES must be/);
});
