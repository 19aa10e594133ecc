/**
 * The ingest rules without a broker: reduce a batch to the newest report per can, apply it to a
 * store exactly once in effect, and refuse bad messages with the field that failed.
 */
import { applyBatch, INGEST_TABLES, newestPerCan } from "../../lib/ingest/apply";
import type { IngestStores, Pending } from "../../lib/ingest/apply";
import { Unparseable } from "../../lib/ingest/parse";
import { checkMessage, deadLetter, REJECTION_REASONS } from "../../lib/ingest/report";
import { createAdapter, storeOn } from "../../lib/store";
import type { StoreAdapter } from "../../lib/store";

const report = (id: string, canId: string, level: number, second: number): Pending => ({
	report: { id, canId, level, reportedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString() },
	receivedAt: "2026-01-01T00:01:00.000Z"
});

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

	beforeEach(async () => {
		adapters = (["levels", "reports"] as const).map(t => createAdapter(t, INGEST_TABLES[t], { uri: "memory://", dataDir: "" }));
		for (const a of adapters) await a.connect();
		stores = { levels: storeOn(adapters[0], "levels"), reports: storeOn(adapters[1], "reports") };
	});
	afterEach(async () => {
		for (const a of adapters) await a.disconnect();
	});

	it("applies each report once: a redelivery is a duplicate and changes nothing", async () => {
		expect(await applyBatch(stores, [report("r1", "7", 50, 1)], "node-a")).toEqual([{ changed: true, firstTime: true }]);
		expect(await applyBatch(stores, [report("r1", "7", 50, 1)], "node-b")).toEqual([{ changed: false, firstTime: false }]);
		expect(await stores.levels.get("7")).toMatchObject({ level: 50, reportId: "r1" });
		expect(await stores.reports.get("r1")).toMatchObject({ status: "applied", appliedBy: "node-a" });
	});

	it("never lets an older report overwrite a newer level, in one batch or across batches", async () => {
		const results = await applyBatch(stores, [report("new", "7", 60, 9), report("old", "7", 10, 2)], "n");
		expect(results).toEqual([
			{ changed: true, firstTime: true },
			{ changed: false, firstTime: true }
		]);
		expect(await applyBatch(stores, [report("older", "7", 5, 1)], "n")).toEqual([{ changed: false, firstTime: true }]);
		expect(await stores.levels.get("7")).toMatchObject({ level: 60, reportId: "new" });
	});

	it("counts the same report twice in one batch once", async () => {
		expect(await applyBatch(stores, [report("r", "1", 1, 1), report("r", "1", 1, 1)], "n")).toEqual([
			{ changed: true, firstTime: true },
			{ changed: false, firstTime: false }
		]);
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
