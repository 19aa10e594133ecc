/**
 * The ingest rules without a broker: reduce a batch to the newest report per can, apply it to a
 * store exactly once in effect, and refuse bad messages with the field that failed.
 */
import type { CanAlert } from "../../lib/contracts";
import { applyBatch, INGEST_TABLES, newestPerCan } from "../../lib/ingest/apply";
import type { Applied, ApplyOptions, IngestStores, Pending } from "../../lib/ingest/apply";
import { Unparseable } from "../../lib/ingest/parse";
import { checkMessage, deadLetter, REJECTION_REASONS } from "../../lib/ingest/report";
import { createAdapter, storeOn } from "../../lib/store";
import type { StoreAdapter } from "../../lib/store";

const report = (id: string, canId: string, level: number, second: number): Pending => ({
	report: { id, canId, level, reportedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString() },
	receivedAt: "2026-01-01T00:01:00.000Z"
});

/** Minute `k` of 2026-01-01 (ISO). */
const minute = (k: number) => new Date(Date.UTC(2026, 0, 1, 0, k)).toISOString();
/** Report `k<k>` of a can, made at minute `k`. */
const minuteReport =
	(canId: string) =>
	(k: number, level: number): Pending => ({ report: { id: `k${k}`, canId, level, reportedAt: minute(k) }, receivedAt: "2026-01-01T03:00:00.000Z" });

const TABLES = Object.keys(INGEST_TABLES) as (keyof IngestStores)[];
const outcomes = (applied: Applied[]) => applied.map(({ changed, firstTime }) => ({ changed, firstTime }));

describe("newestPerCan", () => {
	it("keeps the latest report of each can, ties broken by id", () => {
		const newest = newestPerCan([report("a", "1", 10, 5), report("b", "1", 20, 3), report("c", "2", 30, 1), report("d", "2", 40, 1)]);
		expect([...newest.values()].map(d => [d._id, d.reportId, d.level])).toEqual([
			["1", "a", 10],
			["2", "d", 40]
		]);
	});
});

describe("applyBatch on an in-memory store", () => {
	let adapters: StoreAdapter[];
	let stores: IngestStores;
	let raised: CanAlert[];
	let options: (appliedBy: string) => ApplyOptions;

	beforeEach(async () => {
		adapters = TABLES.map(t => createAdapter(t, INGEST_TABLES[t], { uri: "memory://", dataDir: "" }));
		for (const a of adapters) await a.connect();
		stores = Object.fromEntries(TABLES.map((t, i) => [t, storeOn(adapters[i], t, INGEST_TABLES[t])])) as unknown as IngestStores;
		raised = [];
		options = appliedBy => ({
			appliedBy,
			settings: { fullThreshold: 80, emptiedDrop: 30, overfullAfterMs: 3600e3 },
			raise: async alerts => void raised.push(...alerts)
		});
	});
	afterEach(async () => {
		for (const a of adapters) await a.disconnect();
	});

	it("applies each report once: a redelivery is a duplicate and changes nothing", async () => {
		expect(outcomes(await applyBatch(stores, [report("r1", "7", 50, 1)], options("node-a")))).toEqual([{ changed: true, firstTime: true }]);
		expect(outcomes(await applyBatch(stores, [report("r1", "7", 50, 1)], options("node-b")))).toEqual([{ changed: false, firstTime: false }]);
		expect(await stores.levels.get("7")).toMatchObject({ level: 50, reportId: "r1" });
		expect(await stores.reports.get("r1")).toMatchObject({ status: "applied", appliedBy: "node-a" });
	});

	it("never lets an older report overwrite a newer level, in one batch or across batches", async () => {
		const results = outcomes(await applyBatch(stores, [report("new", "7", 60, 9), report("old", "7", 10, 2)], options("n")));
		expect(results).toEqual([
			{ changed: true, firstTime: true },
			{ changed: false, firstTime: true }
		]);
		expect(outcomes(await applyBatch(stores, [report("older", "7", 5, 1)], options("n")))).toEqual([{ changed: false, firstTime: true }]);
		expect(await stores.levels.get("7")).toMatchObject({ level: 60, reportId: "new" });
	});

	it("counts the same report twice in one batch once", async () => {
		expect(outcomes(await applyBatch(stores, [report("r", "1", 1, 1), report("r", "1", 1, 1)], options("n")))).toEqual([
			{ changed: true, firstTime: true },
			{ changed: false, firstTime: false }
		]);
	});

	it("keeps each applied report once in the can's history and forecasts from it", async () => {
		const minute = (id: string, level: number, m: number): Pending => ({
			report: { id, canId: "9", level, reportedAt: new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString() },
			receivedAt: "2026-01-01T02:00:00.000Z"
		});
		// 0.5 % a minute = 30 % an hour, the reports out of order and one delivered twice
		await applyBatch(stores, [minute("a", 10, 0), minute("c", 20, 20)], options("n"));
		const [result] = await applyBatch(stores, [minute("b", 15, 10), minute("c", 20, 20)], options("n"));
		expect(result).toEqual({ changed: false, firstTime: true });
		const [last] = await applyBatch(stores, [minute("d", 25, 30)], options("n"));
		expect(last.level).toMatchObject({ canId: "9", level: 25, fillRate: 30, fullAt: "2026-01-01T02:20:00.000Z", state: "normal" });
		expect((await stores.history.recent("canId", ["9"], "reportedAt", { limit: 10 })).map(h => h._id)).toEqual(["d", "c", "b", "a"]);
	});

	it("forecasts every can of a batch that touches the whole fleet", async () => {
		// a large batch (a backlog drain) touches the whole fleet: 700 cans, 3 reports each, 30 % an hour
		const cans = Array.from({ length: 700 }, (_, c) => `c${c}`);
		const at = (canId: string, m: number): Pending => ({
			report: { id: `${canId}-${m}`, canId, level: 10 + m / 2, reportedAt: minute(m) },
			receivedAt: minute(60)
		});
		const results = await applyBatch(
			stores,
			cans.flatMap(c => [at(c, 0), at(c, 10), at(c, 20)]),
			options("n")
		);
		const levels = results.filter(r => r.changed).map(r => r.level!);
		expect(levels).toHaveLength(700);
		expect(new Set(levels.map(l => `${l.level} ${l.fillRate} ${l.fullAt}`))).toEqual(new Set(["20 30 2026-01-01T02:20:00.000Z"]));
		expect((await stores.levels.getMany(cans)).every(l => l.cycleStartedAt === minute(0))).toBe(true);
	});

	it("raises can.full once per fill cycle and can.emptied per drop, with ids a redelivery repeats", async () => {
		const at = (id: string, level: number, m: number): Pending => ({
			report: { id, canId: "5", level, reportedAt: new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString() },
			receivedAt: "2026-01-01T02:00:00.000Z"
		});
		await applyBatch(stores, [at("a", 50, 0), at("b", 85, 10)], options("n"));
		await applyBatch(stores, [at("c", 90, 20)], options("n"));
		await applyBatch(stores, [at("b", 85, 10)], options("n")); // redelivered: the same alert again
		await applyBatch(stores, [at("d", 3, 30), at("e", 82, 40)], options("n"));
		expect(raised.map(a => [a.type, a.id])).toEqual([
			["can.full", "can.full:5:first"],
			["can.full", "can.full:5:first"],
			["can.emptied", "can.emptied:5:2026-01-01T00:30:00.000Z"],
			["can.full", "can.full:5:2026-01-01T00:30:00.000Z"]
		]);
		expect(await stores.collections.recent("canId", ["5"], "emptiedAt", { limit: 5 })).toEqual([
			expect.objectContaining({ canId: "5", emptiedAt: "2026-01-01T00:30:00.000Z", levelBefore: 90, levelAfter: 3 })
		]);
		expect(await stores.levels.get("5")).toMatchObject({ lastEmptiedAt: "2026-01-01T00:30:00.000Z", cycleStartedAt: "2026-01-01T00:30:00.000Z" });
	});

	it("keys a can's first fill cycle as its first, whichever of its reports arrives first", async () => {
		const at = (id: string, level: number, m: number): Pending => ({
			report: { id, canId: "4", level, reportedAt: new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString() },
			receivedAt: "2026-01-01T02:00:00.000Z"
		});
		await applyBatch(stores, [at("late", 85, 10)], options("n"));
		// an earlier report, also above the threshold, arrives after it: the cycle's first crossing moves, its key does not
		await applyBatch(stores, [at("early", 82, 5)], options("n"));
		await applyBatch(stores, [at("earliest", 20, 0)], options("n"));
		expect(raised.map(a => [a.id, a.at])).toEqual([
			["can.full:4:first", "2026-01-01T00:10:00.000Z"],
			["can.full:4:first", "2026-01-01T00:05:00.000Z"]
		]);
	});

	it("keys a late crossing by the collection before it, when that was recorded under a later report's name", async () => {
		const at = minuteReport("3");
		// cycle 1 up to 97 % at minute 29; emptied to 2 % at 30; cycle 2 full at 70, 96 % at 78; emptied at 79
		const level = (k: number) => (k < 30 ? 10 + 3 * k : k < 79 ? 2 + 1.96 * (k - 30) : 3 + (k - 79));
		const apply = (ks: number[], opts = options("n")) =>
			applyBatch(
				stores,
				ks.map(k => at(k, level(k))),
				opts
			);
		const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
		for (let k = 0; k < 30; k += 10) await apply(range(k, k + 10));
		// one consumer holds minutes 30–39 and 70–78 (every report of cycle 2 at or above 80 %) and dies
		// before writing them; the other sees the drop from minute 29 to 40 and names the collection "40"
		for (let k = 40; k < 70; k += 10) await apply(range(k, k + 10));
		for (let k = 79; k < 130; k += 10) await apply(range(k, k + 10));
		expect(raised.filter(a => a.type === "can.full").map(a => a.id)).toEqual(["can.full:3:first"]);
		// they come back: cycle 2's crossing, 40 reports after minute 30, is keyed by that collection
		await apply([...range(30, 40), ...range(70, 79)]);
		expect(new Set(raised.map(a => a.id))).toEqual(
			new Set(["can.full:3:first", `can.emptied:3:${minute(40)}`, `can.emptied:3:${minute(79)}`, `can.full:3:${minute(40)}`])
		);
	});

	it("keys a crossing by the collection this same batch records, when the batch holds more of the can than its window", async () => {
		const at = minuteReport("2");
		// cycle 1 up to 97 % at minute 29; emptied to 2 % at 30; cycle 2 full at 60
		const level = (k: number) => (k < 30 ? 10 + 3 * k : 2 + 2.61 * (k - 30));
		const batch = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => at(from + i, level(from + i)));
		await applyBatch(stores, batch(0, 30), options("n"));
		// one batch (a consumer with a deep prefetch) holds 51 reports of the can: the emptying falls outside its window of 40
		await applyBatch(stores, batch(30, 81), options("n"));
		expect(raised.map(a => a.id)).toEqual(["can.full:2:first", `can.emptied:2:${minute(30)}`, `can.full:2:${minute(30)}`]);
		expect(await stores.levels.get("2")).toMatchObject({ cycleStartedAt: minute(30), lastEmptiedAt: minute(30) });
	});

	it("keys a crossing by the drop in the history when no collection of it is recorded yet (another consumer holds the emptying)", async () => {
		const at = minuteReport("5");
		// cycle 1 up to 97 % at minute 29; emptied to 2 % at 30; cycle 2 crosses 80 % at minute 70
		const level = (k: number) => (k < 30 ? 10 + 3 * k : 2 + 1.96 * (k - 30));
		const batch = (ks: number[]) => ks.map(k => at(k, level(k)));
		const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
		await applyBatch(stores, batch(range(0, 30)), options("n"));
		// one consumer holds the emptying (minute 30) while the other applies the 40 reports after it:
		// its window starts after the drop, and no collection is recorded yet to say which cycle it is
		await applyBatch(stores, batch(range(31, 71)), options("n"));
		await applyBatch(stores, batch([30]), options("n"));
		const ids = new Set(raised.map(a => a.id));
		expect(ids).toEqual(new Set(["can.full:5:first", `can.emptied:5:${minute(31)}`, `can.full:5:${minute(31)}`]));
	});

	it("raises the emptying of a batch's oldest report of the can, when that is where its window begins", async () => {
		const at = minuteReport("8");
		// cycle 1 up to 97 % at minute 29; emptied to 2 % at 30 and filling slowly after it
		const level = (k: number) => (k < 30 ? 10 + 3 * k : 2 + (k - 30));
		const batch = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => at(from + i, level(from + i)));
		await applyBatch(stores, batch(0, 30), options("n"));
		// one batch (a deep prefetch) holds exactly the window's 40 reports: the drop to its oldest is only seen before it
		await applyBatch(stores, batch(30, 70), options("n"));
		expect(raised.map(a => a.id)).toEqual(["can.full:8:first", `can.emptied:8:${minute(30)}`]);
		expect(await stores.levels.get("8")).toMatchObject({ cycleStartedAt: minute(30), lastEmptiedAt: minute(30) });
	});

	it("raises the can.full of a cycle whose crossing another consumer applied first, unseen, from the batch holding the emptying", async () => {
		const at = minuteReport("9");
		// cycle 1 up to 97 % at minute 29; emptied to 2 % at 30; cycle 2 crosses 80 % at minute 60
		const level = (k: number) => (k < 30 ? 10 + 3 * k : 2 + 2.61 * (k - 30));
		const batch = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => at(from + i, level(from + i)));
		await applyBatch(stores, batch(0, 30), options("n"));
		// one consumer holds the emptying and the refill (30–59) while the other applies 60–90 first:
		// from 97 % at 29 to 80.3 % at 60 is no drop, so to it the crossing is of the cycle full since 24
		await applyBatch(stores, batch(60, 91), options("a"));
		expect(raised.map(a => a.id)).toEqual(["can.full:9:first"]);
		await applyBatch(stores, batch(30, 60), options("b"));
		expect(new Set(raised.map(a => a.id))).toEqual(new Set(["can.full:9:first", `can.emptied:9:${minute(30)}`, `can.full:9:${minute(30)}`]));
		expect(raised.find(a => a.id === `can.full:9:${minute(30)}`)).toMatchObject({ at: minute(60), level: 80.3 });
	});

	it("raises the emptying and the next cycle's can.full from the batch holding the reports before the drop, applied last", async () => {
		const at = minuteReport("10");
		// cycle 1 from 2 % to 97 % at minute 30 (full at 25); emptied to 2 % at 31; cycle 2 crosses 80 % at 61
		const level = (k: number) => (k <= 30 ? 2 + 3.17 * k : 2 + 2.61 * (k - 31));
		const batch = (ks: number[]) => ks.map(k => at(k, level(k)));
		const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
		// one consumer applies 0–4 and 31–80 first: from 14.7 % at 4 to 2 % at 31 is no drop, one long cycle
		await applyBatch(stores, batch([...range(0, 5), ...range(31, 81)]), options("a"));
		// the other holds the fill-up (5–30) and comes last
		await applyBatch(stores, batch(range(5, 31)), options("b"));
		expect(new Set(raised.map(a => a.id))).toEqual(new Set(["can.full:10:first", `can.emptied:10:${minute(31)}`, `can.full:10:${minute(31)}`]));
		expect(await stores.levels.get("10")).toMatchObject({ cycleStartedAt: minute(31), lastEmptiedAt: minute(31) });
	});

	it("raises a batch's alerts when its consumer died before raising them and the batch returns behind a window of newer reports", async () => {
		const at = minuteReport("6");
		// 10, 20, … 90, 95, then emptied to 3 at minute 10 and filling a point a minute
		const levels = Array.from({ length: 71 }, (_, k) => (k < 9 ? 10 + 10 * k : k === 9 ? 95 : k - 7));
		const batch = (from: number, to: number) => levels.slice(from, to).map((level, i) => at(from + i, level));
		await applyBatch(stores, batch(0, 7), options("n"));
		// the batch with the crossing (minute 7) and the drop (minute 10): its consumer records the
		// collection, then dies (kill -9) before the alerts are on the bus
		const crash: ApplyOptions = { ...options("victim"), raise: () => Promise.reject(new Error("killed")) };
		await expect(applyBatch(stores, batch(7, 11), crash)).rejects.toThrow("killed");
		// the other consumer applies the next hour, ten at a time: none of it raises anything
		for (let k = 11; k < 71; k += 10) await applyBatch(stores, batch(k, k + 10), options("n"));
		expect(raised).toEqual([]);
		// the unacked batch comes back after the ack wait, 60 reports behind
		await applyBatch(stores, batch(7, 11), options("n"));
		expect(raised.map(a => a.id)).toEqual([`can.emptied:6:${minute(10)}`, "can.full:6:first"]);
		expect(await stores.levels.get("6")).toMatchObject({ level: 63, cycleStartedAt: minute(10), lastEmptiedAt: minute(10) });
	});
});

describe("checkMessage and deadLetter", () => {
	const fallback = { id: "nats:trash-level:9", reportedAt: "2026-01-01T00:00:00.000Z" };

	it("turns a body that was no JSON into a rejection of the body, keeping its text", () => {
		const body = new Unparseable("{not json");
		const checked = checkMessage(body, fallback);
		expect(checked.ok).toBe(false);
		if (checked.ok) return;
		expect(deadLetter(checked, body, fallback, "t")).toEqual({
			reason: "The report is not JSON.",
			field: "body",
			report: "{not json",
			id: fallback.id,
			receivedAt: "t"
		});
	});

	it.each([
		[{ can_id: "1", level: "high" }, "level"],
		[{ level: 1 }, "can_id"],
		[[1, 2], "body"],
		[{ can_id: "1", level: 1, reportedAt: "soon" }, "reportedAt"]
	])("names the failing field of %j as one of the counted reasons", (body, field) => {
		const checked = checkMessage(body, fallback);
		if (checked.ok) throw new Error("accepted");
		const letter = deadLetter(checked, body, fallback, "t");
		expect(letter.field).toBe(field);
		expect(REJECTION_REASONS).toContain(letter.field);
	});
});
