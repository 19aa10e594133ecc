/**
 * Hostile input, generated (fast-check, fixed seed, bounded): 1 000 malformed requests across
 * every endpoint (the can registry's too) never get a 500, never stop the process and never store anything invalid; valid
 * requests interleaved with them all succeed.
 */
import fc from "fast-check";
import { startSystem } from "../../harness/system";
import type { System } from "../../harness/system";
import type { Can, Movie } from "../../lib/contracts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1_000);

let sys: System;
let movieId: string;
beforeAll(async () => {
	sys = await startSystem();
	movieId = (await sys.request("POST", "/movies", { title: "Anchor" })).body.id;
});
afterAll(() => sys.stop());

/** Any JSON value, with the keys attackers like and some depth. */
const hostileKey = fc.oneof(
	fc.constantFrom(
		"__proto__",
		"constructor",
		"prototype",
		"$where",
		"$gt",
		"title",
		"year",
		"can_id",
		"level",
		"genres",
		"id",
		"reportedAt",
		"name",
		"location",
		"lat",
		"lon",
		"capacityLitres",
		"wasteKind",
		"fullThreshold"
	),
	fc.string({ maxLength: 12 })
);
const hostileValue = fc.letrec(tie => ({
	value: fc.oneof(
		{ depthSize: "small", withCrossShrink: true },
		fc.constantFrom(null, true, false, 0, -1, 1e308, -0, "", "0", "101", "NaN", "Infinity", "1e3", " 50 "),
		fc.double(),
		fc.integer(),
		fc.string({ maxLength: 40 }),
		fc.string({ unit: "grapheme", maxLength: 20 }),
		fc.constant("x".repeat(5_000)),
		fc.array(tie("value"), { maxLength: 4 }),
		fc.dictionary(hostileKey, tie("value"), { maxKeys: 5 })
	)
})).value;

const deepNesting = fc.integer({ min: 50, max: 3_000 }).map(depth => "[".repeat(depth) + "]".repeat(depth));
const invalidUtf8 = fc
	.uint8Array({ minLength: 1, maxLength: 64 })
	.map(bytes => Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xc3, 0x28, 0xff, ...bytes]), Buffer.from('"}')]));

const body = fc.oneof(
	hostileValue.map(v => JSON.stringify(v) ?? "null"),
	fc.dictionary(hostileKey, hostileValue, { maxKeys: 6 }).map(o => JSON.stringify(o)),
	deepNesting,
	fc.string({ maxLength: 60 }),
	invalidUtf8
);

const endpoint = fc.oneof(
	fc.constantFrom(
		["POST", "/movies"],
		["PUT", "/movies/__ID__"],
		["DELETE", "/movies/__ID__"],
		["GET", "/movies"],
		["GET", "/movies/__ID__"],
		["POST", "/levels"],
		["GET", "/levels"],
		["GET", "/levels/301"],
		["GET", "/reports/x"],
		["PUT", "/cans/fuzz-can"],
		["DELETE", "/cans/fuzz-gone"],
		["GET", "/cans"],
		["GET", "/cans/fuzz-can"],
		["GET", "/cans/301/collections"],
		["GET", "/levels/fuzz-ok/history"],
		["GET", "/workers"],
		["GET", "/health/ready"]
	),
	fc.tuple(
		fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"),
		fc.string({ maxLength: 30 }).map(p => `/${encodeURIComponent(p)}`)
	)
);

const query = fc.dictionary(
	fc.constantFrom("page", "pageSize", "sort", "search", "min", "max", "fullBefore", "from", "to", "step", "limit", "format", "__proto__", "constructor"),
	fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String)),
	{ maxKeys: 4 }
);
const contentType = fc.constantFrom(
	"application/json",
	"application/json",
	"text/plain",
	"application/x-www-form-urlencoded",
	"application/json; charset=latin1",
	""
);

it(`${RUNS} generated malformed requests: no 5xx, the process keeps serving, and valid traffic around them works`, async () => {
	const statuses = new Map<number, number>();
	let validOk = 0;
	await fc.assert(
		fc.asyncProperty(endpoint, query, body, contentType, fc.boolean(), async ([method, rawPath], q, payload, type, sendBody) => {
			const path = `${rawPath.replace("__ID__", movieId)}?${new URLSearchParams(q)}`;
			const hasBody = sendBody && !["GET", "OPTIONS"].includes(method);
			const res = await fetch(sys.url + path, {
				method,
				body: hasBody ? payload : undefined,
				headers: hasBody && type ? { "content-type": type } : {},
				signal: AbortSignal.timeout(10_000)
			});
			await res.arrayBuffer();
			statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
			if (res.status >= 500) throw new Error(`${method} ${path} → ${res.status} for ${String(payload).slice(0, 200)}`);

			// a valid request interleaved with the fuzz still works
			const ok = await sys.request("POST", "/levels", { can_id: "fuzz-ok", level: 42 });
			if (ok.status !== 202) throw new Error(`valid report refused with ${ok.status}`);
			validOk++;
		}),
		{ seed: SEED, numRuns: RUNS, endOnFailure: true }
	);
	console.log(
		`[fuzz] seed ${SEED}: ${RUNS} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ${validOk} valid reports accepted alongside`
	);

	// Nothing invalid was stored: every movie and level still meets the contract.
	const movies = (await sys.get("/movies?pageSize=100")).body as { rows: Movie[]; total: number };
	for (const m of movies.rows) {
		expect(typeof m.title).toBe("string");
		expect(m.title.trim()).toBe(m.title);
		expect(m.title.length).toBeGreaterThan(0);
		if (m.year !== undefined) expect(Number.isInteger(m.year)).toBe(true);
		if (m.genres !== undefined) expect(m.genres.every(g => typeof g === "string")).toBe(true);
		expect(Object.keys(m).every(k => ["id", "title", "year", "director", "genres", "createdAt", "updatedAt"].includes(k))).toBe(true);
	}
	const levels = (await sys.get("/levels")).body as { canId: string; level: number }[];
	for (const l of levels) {
		expect(typeof l.level).toBe("number");
		expect(l.level).toBeGreaterThanOrEqual(0);
		expect(l.level).toBeLessThanOrEqual(100);
	}
	expect(levels.find(l => l.canId === "fuzz-ok")).toMatchObject({ level: 42 });
	// and every can of the registry is one the contract allows
	for (const can of (await sys.get("/cans")).body as Can[]) {
		expect(Object.keys(can).sort()).toEqual(["canId", "capacityLitres", "fullThreshold", "lastEmptiedAt", "location", "name", "registered", "wasteKind"]);
		if (can.name !== null) expect(can.name.length).toBeGreaterThan(0);
		if (can.location !== null) expect(Math.abs(can.location.lat) <= 90 && Math.abs(can.location.lon) <= 180).toBe(true);
		if (can.capacityLitres !== null) expect(can.capacityLitres).toBeGreaterThan(0);
		expect(can.fullThreshold).toBeGreaterThanOrEqual(1);
		expect(can.fullThreshold).toBeLessThanOrEqual(100);
	}
	expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}, 120_000);
