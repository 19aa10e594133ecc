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
