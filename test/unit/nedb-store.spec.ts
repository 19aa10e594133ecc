/**
 * The NeDB store keeps its last full read (GET /levels reads every can per request) and never
 * answers from it once something was written: a read overlapping a write is not kept either.
 */
import { INGEST_TABLES } from "../../lib/ingest/apply";
import { createAdapter, storeOn } from "../../lib/store";
import type { Store, StoreAdapter } from "../../lib/store";

type Doc = { _id: string; level: number; version?: string };
let adapter: StoreAdapter;
let store: Store<Doc>;

beforeEach(async () => {
	adapter = createAdapter("levels", INGEST_TABLES.levels, { uri: "memory://", dataDir: "" });
	await adapter.connect();
	store = storeOn<Doc>(adapter, "levels");
	await store.put({ _id: "301", level: 10 });
});
afterEach(() => adapter.disconnect());

const levels = async () => (await store.all()).map(d => [d._id, d.level]).sort();

it("answers repeated reads from one read", async () => {
	expect(await store.all()).toBe(await store.all());
});

it("shows every kind of write at the next read", async () => {
	await store.all();
	await store.put({ _id: "302", level: 20 });
	expect(await levels()).toEqual([
		["301", 10],
		["302", 20]
	]);
	await store.putManyIfNewer([{ _id: "301", level: 11, version: "b" }]);
	expect(await levels()).toEqual([
		["301", 11],
		["302", 20]
	]);
	await store.putManyUnless([{ _id: "302", level: 21 }], "level", "x");
	expect(await levels()).toEqual([
		["301", 11],
		["302", 21]
	]);
	await store.removeBefore("_id", "302");
	expect(await levels()).toEqual([["302", 21]]);
});

it("does not keep a read that overlapped a write", async () => {
	const before = store.all();
	const write = store.put({ _id: "303", level: 30 });
	const during = store.all();
	await Promise.all([before, write, during]);
	expect(await levels()).toEqual([
		["301", 10],
		["303", 30]
	]);
});

describe("recent, from the newest documents it keeps per can", () => {
	type Point = { _id: string; canId: string; level: number; reportedAt: string };
	let history: Store<Point>;
	let historyAdapter: StoreAdapter;
	const iso = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
	const point = (n: number, canId = n % 2 ? "a" : "b"): Point => ({ _id: `p${n}`, canId, level: n % 100, reportedAt: iso(n) });
	/** What a full read says: every point of the can, newest first. */
	const truth = (points: Point[], canId: string, limit: number) =>
		points
			.filter(p => p.canId === canId)
			.sort((x, y) => (x.reportedAt < y.reportedAt ? 1 : -1))
			.slice(0, limit);

	beforeEach(async () => {
		historyAdapter = createAdapter("history", INGEST_TABLES.history, { uri: "memory://", dataDir: "" });
		await historyAdapter.connect();
		history = storeOn<Point>(historyAdapter, "history", INGEST_TABLES.history);
	});
	afterEach(() => historyAdapter.disconnect());

	it("matches a full read through out-of-order inserts, duplicates, reads racing the writes, and removals", async () => {
		const order = Array.from({ length: 300 }, (_, i) => (i * 7919) % 300); // a fixed shuffle
		const stored: Point[] = [];
		for (let i = 0; i < order.length; i += 25) {
			const batch = order.slice(i, i + 25).map(n => point(n));
			// a read that overlaps the write, and a redelivered point in the batch
			const [, during] = await Promise.all([history.insertMany([...batch, batch[0]]), history.recent("canId", ["a", "b"], "reportedAt", { limit: 40 })]);
			expect(during.length).toBeLessThanOrEqual(80);
			stored.push(...batch);
			const answer = await history.recent("canId", ["a", "b"], "reportedAt", { limit: 40 });
			expect(answer.filter(p => p.canId === "a")).toEqual(truth(stored, "a", 40));
			expect(answer.filter(p => p.canId === "b")).toEqual(truth(stored, "b", 40));
		}
		await history.removeBefore("reportedAt", iso(290));
		expect(await history.recent("canId", ["a"], "reportedAt", { limit: 40 })).toEqual(
			truth(
				stored.filter(p => p.reportedAt >= iso(290)),
				"a",
				40
			)
		);
		await history.removeWhere("canId", "b");
		expect(await history.recent("canId", ["b"], "reportedAt", { limit: 40 })).toEqual([]);
	});
});
