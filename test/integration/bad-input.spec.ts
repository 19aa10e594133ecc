/**
 * Every bad input gets a clear 4xx, never a 500, and the process keeps serving.
 * Bad reports on the channel never change a stored level and never stop the consumer.
 */
import { startSystem, eventually } from "../../harness/system";
import type { System } from "../../harness/system";

let sys: System;
let movieId: string;

beforeAll(async () => {
	sys = await startSystem();
	movieId = (await sys.request("POST", "/movies", { title: "Alien" })).body.id;
	await sys.request("POST", "/levels", { can_id: "42", level: 50 });
	await eventually(async () => (await sys.get("/levels/42")).status === 200);
});
afterAll(() => sys.stop());

type Case = [name: string, method: string, path: string, body: unknown, status: number, field?: string];

const big = "x".repeat(110 * 1024);

const cases: Case[] = [
	// movies: body validation
	["no title", "POST", "/movies", {}, 422, "title"],
	["empty title", "POST", "/movies", { title: "" }, 422, "title"],
	["blank title", "POST", "/movies", { title: "   " }, 422, "title"],
	["title not a string", "POST", "/movies", { title: 42 }, 422, "title"],
	["title too long", "POST", "/movies", { title: "t".repeat(201) }, 422, "title"],
	["title with a NUL", "POST", "/movies", { title: "A\u0000B" }, 422, "title"],
	["genre with a control character", "POST", "/movies", { title: "A", genres: ["x\u0007"] }, 422, "genres[0]"],
	["year not a number", "POST", "/movies", { title: "A", year: "soon" }, 422, "year"],
	["year fractional", "POST", "/movies", { title: "A", year: 1999.5 }, 422, "year"],
	["year before cinema", "POST", "/movies", { title: "A", year: 1700 }, 422, "year"],
	["genres not an array", "POST", "/movies", { title: "A", genres: "drama" }, 422, "genres"],
	["genres with a number", "POST", "/movies", { title: "A", genres: [1] }, 422, "genres[0]"],
	["duplicate genres", "POST", "/movies", { title: "A", genres: ["x", "x"] }, 422, "genres"],
	["body is an array", "POST", "/movies", [{ title: "A" }], 422, "title"],
	["malformed JSON", "POST", "/movies", '{"title": "A"', 400],
	["JSON primitive body", "POST", "/movies", '"just a string"', 400],
	["body over 100 kB", "POST", "/movies", { title: "A", director: big }, 413],
	["update with bad year", "PUT", "/movies/__ID__", { year: "x" }, 422, "year"],
	["update with empty title", "PUT", "/movies/__ID__", { title: "" }, 422, "title"],
	["update unknown id", "PUT", "/movies/nope", { title: "B" }, 404],
	["delete unknown id", "DELETE", "/movies/nope", undefined, 404],
	["get unknown id", "GET", "/movies/nope", undefined, 404],
	// movies: query validation
	["page zero", "GET", "/movies?page=0", undefined, 422, "page"],
	["page not a number", "GET", "/movies?page=abc", undefined, 422, "page"],
	["pageSize too big", "GET", "/movies?pageSize=1000", undefined, 422, "pageSize"],
	["sort by an unknown field", "GET", "/movies?sort=secret", undefined, 422, "sort"],
	["search too long", "GET", `/movies?search=${"s".repeat(201)}`, undefined, 422, "search"],
	// levels
	["level not numeric", "POST", "/levels", { can_id: "1", level: "abc" }, 422, "level"],
	["level negative", "POST", "/levels", { can_id: "1", level: -1 }, 422, "level"],
	["level over 100", "POST", "/levels", { can_id: "1", level: 101 }, 422, "level"],
	["level empty string", "POST", "/levels", { can_id: "1", level: "" }, 422, "level"],
	["level boolean", "POST", "/levels", { can_id: "1", level: true }, 422, "level"],
	["level missing", "POST", "/levels", { can_id: "1" }, 422, "level"],
	["can id missing", "POST", "/levels", { level: 10 }, 422, "can_id"],
	["can id empty", "POST", "/levels", { can_id: " ", level: 10 }, 422, "can_id"],
	["can id an object", "POST", "/levels", { can_id: { $gt: "" }, level: 10 }, 422, "can_id"],
	// PostgreSQL refuses U+0000 in text: these were 500s there
	["can id with a NUL", "POST", "/levels", { can_id: "4\u00002", level: 10 }, 422, "can_id"],
	["can id with a control character", "POST", "/levels", { can_id: "4\n2", level: 10 }, 422, "can_id"],
	["registered can id with a NUL", "PUT", "/cans/4%002", { name: "x" }, 422, "canId"],
	["can name with a NUL", "PUT", "/cans/42", { name: "x\u0000" }, 422, "name"],
	["reportedAt not a date", "POST", "/levels", { can_id: "1", level: 10, reportedAt: "yesterday-ish" }, 422, "reportedAt"],
	["reportedAt in the future", "POST", "/levels", { can_id: "1", level: 10, reportedAt: "2999-01-01T00:00:00Z" }, 422, "reportedAt"],
	["levels min not a number", "GET", "/levels?min=low", undefined, 422, "min"],
	["levels max over 100", "GET", "/levels?max=101", undefined, 422, "max"],
	["levels min above max", "GET", "/levels?min=90&max=10", undefined, 422, "min"],
	["unknown can", "GET", "/levels/nope", undefined, 404],
	["unknown report", "GET", "/reports/nope", undefined, 404],
	// routes that do not exist or are not exposed
	["unknown route", "GET", "/nope", undefined, 404],
	["unknown method on a route", "PATCH", "/movies/__ID__", { title: "B" }, 404],
	["internal action by name", "GET", "/db/list", undefined, 404],
	["internal $node action", "GET", "/~node/list", undefined, 404],
	["$node by alias path", "GET", "/$node/services", undefined, 404]
];

describe("bad requests", () => {
	// Rows become objects: jest would take a sixth positional parameter as a `done` callback.
	const rows = cases.map(([name, method, path, body, status, field]) => ({ name, method, path, body, status, field }));
	it.each(rows)("$name: $method $path answers $status", async ({ method, path, body, status, field }) => {
		const res = await sys.request(method, path.replace("__ID__", movieId), body);
		expect(res.status).toBe(status);
		expect(res.body).toMatchObject({ name: expect.any(String), message: expect.any(String), code: status });
		if (field) expect(res.body.data.map((e: { field: string }) => e.field)).toContain(field);
	});

	it("after all of them the gateway still serves, and no bad input was stored", async () => {
		expect(cases.length).toBeGreaterThanOrEqual(30);
		expect((await sys.get("/health/ready")).status).toBe(200);
		const movies = await sys.get("/movies?pageSize=100");
		expect(movies.body.rows.map((m: { title: string }) => m.title)).toEqual(["Alien"]);
		expect((await sys.get("/levels")).body).toEqual([expect.objectContaining({ canId: "42", level: 50 })]);
	});
});

describe("bad reports on the channel", () => {
	const badReports: [string, unknown][] = [
		["level abc", { can_id: "42", level: "abc" }],
		["level -1", { can_id: "42", level: -1 }],
		["level 101", { can_id: "42", level: 101 }],
		["no can_id", { level: "10" }],
		["can_id with a NUL", { can_id: "4\u00002", level: "10" }],
		["not an object", "not json at all"],
		["null", null],
		["an array", [{ can_id: "42", level: 1 }]],
		["future time", { can_id: "42", level: 1, reportedAt: "2999-01-01T00:00:00Z" }],
		["rejected with an id", { id: "bad-1", can_id: "42", level: "NaN" }]
	];

	it("never change a stored level, are counted as rejected by field, and the consumer keeps going", async () => {
		const before = (await sys.broker.call("trashReport.stats")) as { rejected: Record<string, number>; applied: number };
		for (const [, report] of badReports) await sys.broker.sendToChannel("trash-level", report);
		// A valid report sent after the bad ones is still applied: the consumer survived them.
		await sys.broker.sendToChannel("trash-level", { id: "good-after-bad", can_id: "43", level: "12.5" });
		const after = await eventually(async () => {
			const stats = (await sys.broker.call("trashReport.stats")) as { rejected: Record<string, number>; applied: number };
			return stats.applied > before.applied && stats;
		});
		expect((await sys.get("/levels/43")).body.level).toBe(12.5);
		const rejected = (s: typeof after) => Object.values(s.rejected).reduce((a, b) => a + b, 0);
		expect(rejected(after) - rejected(before)).toBe(badReports.length);
		expect(after.rejected.level).toBeGreaterThanOrEqual(4);
		expect(after.applied - before.applied).toBe(1);
		expect((await sys.get("/levels/42")).body.level).toBe(50);
	});

	it("a rejected report that carried an id is visible as rejected with the reason", async () => {
		const res = await sys.get("/reports/bad-1");
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ id: "bad-1", status: "rejected", reason: expect.stringContaining("level") });
	});
});
