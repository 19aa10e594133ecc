/**
 * The simulator is the load generator: N cans reporting in the seed format on the
 * `trash-level` channel, periodically or in bursts. trashReport ends with the newest level
 * of every can.
 */
import type { ServiceSchema } from "moleculer";
import type { SimulatedReport, SimulatorStatus } from "../../lib/contracts";
import type { CanLevel } from "../../lib/contracts";
import { startSystem, eventually } from "../../harness/system";
import type { System } from "../../harness/system";

let sys: System;
/** Every report the simulator published, seen by an independent consumer group. */
const seen: SimulatedReport[] = [];

beforeAll(async () => {
	sys = await startSystem(["systemManager", "rest", "trashReport", "simulator"], {}, { simulator: { cans: 10, intervalMs: 150, autostart: false } });
	await sys.broker.createService({
		name: "observer",
		channels: { "trash-level": { group: "observer", handler: (msg: SimulatedReport) => void seen.push(msg) } }
	} as ServiceSchema);
});
afterAll(() => sys.stop());

const status = () => sys.broker.call<SimulatorStatus>("simulator.status");
const stats = () => sys.broker.call<{ applied: number; duplicates: number; received: number }>("trashReport.stats");

/** The newest report per can among those published, as trashReport must end up storing it. */
function newestPerCan(): Map<string, SimulatedReport> {
	const newest = new Map<string, SimulatedReport>();
	for (const r of seen) if (!newest.has(r.can_id) || r.reportedAt > newest.get(r.can_id)!.reportedAt) newest.set(r.can_id, r);
	return newest;
}

it("is idle until started, and says so", async () => {
	expect(await status()).toEqual({ running: false, cans: 10, intervalMs: 150, published: 0 });
});

it("reports every can in the seed format once per interval while running", async () => {
	await sys.broker.call("simulator.start");
	expect((await status()).running).toBe(true);
	// the first round goes out at once, the next ones every interval
	await eventually(async () => (await status()).published >= 30, 3_000);
	const levels = await eventually(async () => {
		const res = await sys.get("/levels");
		return res.body.length === 10 && (res.body as CanLevel[]);
	});
	expect(levels.map(l => l.canId)).toEqual(["301", "302", "303", "304", "305", "306", "307", "308", "309", "310"]);
	for (const report of seen) {
		expect(report).toEqual({
			id: expect.any(String),
			can_id: expect.stringMatching(/^3\d\d$/),
			level: expect.stringMatching(/^\d{1,3}\.\d\d$/),
			reportedAt: expect.any(String)
		});
		expect(Number(report.level)).toBeGreaterThanOrEqual(0);
		expect(Number(report.level)).toBeLessThanOrEqual(100);
	}
});

it("stops publishing when stopped", async () => {
	const stopped = await sys.broker.call<SimulatorStatus>("simulator.stop");
	expect(stopped.running).toBe(false);
	await new Promise(r => setTimeout(r, 400));
	expect((await status()).published).toBe(stopped.published);
});

it("a burst publishes exactly `count` reports and every can ends at its newest level", async () => {
	const before = await status();
	const appliedBefore = (await stats()).applied;
	const burst = await sys.broker.call<{ published: number; ms: number }, { count: number }>("simulator.burst", { count: 1234 });
	expect(burst.published).toBe(1234);
	expect((await status()).published).toBe(before.published + 1234);

	await eventually(async () => (await stats()).applied === appliedBefore + 1234, 10_000);
	const levels = (await sys.get("/levels")).body as CanLevel[];
	const newest = newestPerCan();
	expect(levels).toHaveLength(10);
	for (const can of levels) {
		expect(can.level).toBe(Number(newest.get(can.canId)!.level));
		expect(can.reportedAt).toBe(newest.get(can.canId)!.reportedAt);
	}
	expect(seen).toHaveLength(before.published + 1234);
});

it("rejects a burst without a sane count", async () => {
	for (const count of [0, -1, 1.5, "many", 2_000_000]) await expect(sys.broker.call("simulator.burst", { count })).rejects.toMatchObject({ code: 422 });
	await expect(sys.broker.call("simulator.burst", {})).rejects.toMatchObject({ code: 422 });
});
