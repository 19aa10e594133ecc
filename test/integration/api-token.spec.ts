/** With API_TOKEN set, every write needs `Authorization: Bearer <token>`; reads stay open. */
import { startSystem } from "../../harness/system";
import type { System } from "../../harness/system";
import { ALL_SERVICES } from "../../lib/config";

let sys: System;
let movieId: string;
const auth = { authorization: "Bearer s3cret-token" };

beforeAll(async () => {
	sys = await startSystem(ALL_SERVICES, {}, { rest: { apiToken: "s3cret-token" } });
	movieId = (await sys.request("POST", "/movies", { title: "Alien" }, auth)).body.id;
});
afterAll(() => sys.stop());

describe.each([
	["POST", "/movies", { title: "Heat" }],
	["PUT", "/movies/__ID__", { title: "Aliens" }],
	["DELETE", "/movies/__ID__", undefined],
	["POST", "/levels", { can_id: "1", level: 5 }]
])("%s %s", (method, path, body) => {
	const send = (headers: Record<string, string>) => sys.request(method, path.replace("__ID__", movieId), body, headers);

	it.each([
		["no Authorization header", {}, "NO_TOKEN"],
		["a wrong token", { authorization: "Bearer nope" }, "INVALID_TOKEN"],
		["a token that is a prefix of the right one", { authorization: "Bearer s3cret" }, "INVALID_TOKEN"],
		["another scheme", { authorization: "Basic s3cret-token" }, "INVALID_TOKEN"]
	])("answers 401 with %s", async (_name, headers, type) => {
		const res = await send(headers);
		expect(res.status).toBe(401);
		expect(res.body).toMatchObject({ name: "UnAuthorizedError", code: 401, type });
	});
});

it("accepts writes with the token, and nothing was written without it", async () => {
	expect((await sys.request("PUT", `/movies/${movieId}`, { title: "Aliens" }, auth)).status).toBe(200);
	const list = await sys.get("/movies");
	expect(list.body.rows.map((m: { title: string }) => m.title)).toEqual(["Aliens"]);
	expect((await sys.request("POST", "/levels", { can_id: "1", level: 5 }, auth)).status).toBe(202);
	expect((await sys.request("DELETE", `/movies/${movieId}`, undefined, auth)).status).toBe(200);
});

it("never publishes the token: the gateway's settings in its INFO packet leave it out", () => {
	const info = sys.broker.registry.getLocalNodeInfo();
	const rest = info.services.find(s => s.name === "rest")!;
	expect(rest.settings).toMatchObject({ port: expect.any(Number) });
	expect(rest.settings).not.toHaveProperty("apiToken");
	expect(JSON.stringify(info)).not.toContain("s3cret-token");
});

it("keeps reads open", async () => {
	for (const path of ["/movies", "/levels", "/workers", "/health/live"]) expect((await sys.get(path)).status).toBe(200);
});

describe("a CORS preflight cannot write without the token", () => {
	// moleculer-web resolves an OPTIONS request to the alias of the method its
	// Access-Control-Request-Method names, and ran that alias's action: a "preflight" deleted a movie.
	let victim: string;
	beforeAll(async () => {
		victim = (await sys.request("POST", "/movies", { title: "Victim" }, auth)).body.id;
	});

	it.each([
		["DELETE", "/movies/__ID__", undefined],
		["PUT", "/movies/__ID__", { title: "Changed" }],
		["POST", "/movies", { title: "Created by a preflight" }],
		["POST", "/levels", { can_id: "preflight", level: 50 }]
	])("OPTIONS naming %s %s is 404 and runs nothing", async (method, path, body) => {
		const res = await sys.request("OPTIONS", path.replace("__ID__", victim), body, { "access-control-request-method": method, origin: "http://evil.example" });
		expect(res.status).toBe(404);
		expect(res.body).toMatchObject({ name: "NotFoundError", code: 404 });
	});

	it("OPTIONS without a method named runs no read either", async () => {
		expect((await sys.request("OPTIONS", "/movies")).status).toBe(404);
	});

	it("after the preflights the movie is still there, unchanged, and nothing was created", async () => {
		expect((await sys.get(`/movies/${victim}`)).body).toMatchObject({ id: victim, title: "Victim" });
		const titles = (await sys.get("/movies")).body.rows.map((m: { title: string }) => m.title);
		expect(titles).not.toContain("Created by a preflight");
		expect((await sys.get("/levels/preflight")).status).toBe(404);
	});
});
