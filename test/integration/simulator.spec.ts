/**
 * The simulator is the load generator: N cans reporting in the seed format on the
 * `trash-level` channel, periodically or in bursts. trashReport ends with the newest level
 * of every can. It is also a fleet whose forecasts can be checked: each can stands in the
 * configured box and fills at its own true speed, and `collect` empties it.
 */
import type { ServiceSchema } from "moleculer";
import type { GeoBox } from "../../lib/config";
import type { Can, IngestStats, SimulatedCan, SimulatedReport, SimulatorStatus } from "../../lib/contracts";
import type { CanLevel } from "../../lib/contracts";
import { startSystem, eventually } from "../../harness/system";
import type { System } from "../../harness/system";

/** Not the default box: the setting is what places the cans. */
const AREA: GeoBox = { south: 48.1, west: 11.5, north: 48.2, east: 11.65 };

let sys: System;
/** Every report the simulator published, seen by an independent consumer group. */
const seen: SimulatedReport[] = [];

beforeAll(async () => {
	sys = await startSystem(
		["systemManager", "rest", "trashReport", "simulator"],
		{},
		{ simulator: { cans: 10, intervalMs: 150, autostart: false, area: AREA } }
	);
	await sys.broker.createService({
		name: "observer",
		channels: { "trash-level": { group: "observer", handler: (msg: SimulatedReport) => void seen.push(msg) } }
	} as ServiceSchema);
	// an operator's registration, made before the simulator first reports: it must be kept
	expect((await sys.request("PUT", "/cans/305", { name: "Market square <east>" })).status).toBe(201);
});
afterAll(() => sys.stop());

const status = () => sys.broker.call<SimulatorStatus>("simulator.status");
const stats = () => sys.broker.call<IngestStats>("trashReport.stats");

/** The newest report per can among those published, as trashReport must end up storing it. */
function newestPerCan(): Map<string, SimulatedReport> {
	const newest = new Map<string, SimulatedReport>();
	for (const r of seen) if (!newest.has(r.can_id) || r.reportedAt > newest.get(r.can_id)!.reportedAt) newest.set(r.can_id, r);
	return newest;
}

it("is idle until started, and says so", async () => {
	expect(await status()).toEqual({ running: false, cans: 10, intervalMs: 150, published: 0 });
});

it("places every can inside its area, each at its own place, and gives each its own fill speed", async () => {
	const cans = await sys.broker.call<SimulatedCan[]>("simulator.cans");
	expect(cans.map(can => can.canId)).toEqual(["301", "302", "303", "304", "305", "306", "307", "308", "309", "310"]);
	for (const { location } of cans) {
		expect(location.lat).toBeGreaterThan(AREA.south);
		expect(location.lat).toBeLessThan(AREA.north);
		expect(location.lon).toBeGreaterThan(AREA.west);
		expect(location.lon).toBeLessThan(AREA.east);
	}
	expect(new Set(cans.map(can => `${can.location.lat},${can.location.lon}`)).size).toBe(10);
	// spread over the box, not bunched in a corner: every quarter of it has a can
	const quarter = ({ lat, lon }: { lat: number; lon: number }) => `${lat > (AREA.south + AREA.north) / 2}${lon > (AREA.west + AREA.east) / 2}`;
	expect(new Set(cans.map(can => quarter(can.location))).size).toBe(4);
	const rates = cans.map(can => can.fillRate);
	expect(new Set(rates).size).toBe(10);
	expect(Math.min(...rates)).toBeGreaterThanOrEqual(10);
	expect(Math.max(...rates)).toBeLessThanOrEqual(60);
	// before any report: no level
	expect(cans.every(can => can.level === null)).toBe(true);
	// the same places and speeds every time (a restarted simulator's cans stay where they were)
	expect(await sys.broker.call<SimulatedCan[]>("simulator.cans")).toEqual(cans);
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

it("registers its cans with trashReport once it reports, keeping a registration made before", async () => {
	const simulated = await sys.broker.call<SimulatedCan[]>("simulator.cans");
	const registered = await eventually(async () => {
		const cans = (await sys.get("/cans")).body as Can[];
		return cans.filter(can => can.registered).length === 10 && cans;
	}, 5_000);
	for (const can of simulated) {
		const entry = registered.find(c => c.canId === can.canId)!;
		if (can.canId === "305") expect(entry).toMatchObject({ name: "Market square <east>", location: null, wasteKind: null });
		else
			expect(entry).toMatchObject({
				name: `Simulated can ${can.canId}`,
				location: can.location,
				capacityLitres: can.capacityLitres,
				wasteKind: can.wasteKind
			});
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
	// every valid report went to the store in a batch, and a burst makes batches of many
	const { applied, duplicates, batches, batched } = await stats();
	expect(batched).toBe(applied + duplicates);
	expect(batched / batches).toBeGreaterThan(2);
});

it("rejects a burst without a sane count", async () => {
	for (const count of [0, -1, 1.5, "many", 2_000_000]) await expect(sys.broker.call("simulator.burst", { count })).rejects.toMatchObject({ code: 422 });
	await expect(sys.broker.call("simulator.burst", {})).rejects.toMatchObject({ code: 422 });
});

it("collect empties a can: it reports a low level at once and goes on from there; unknown cans are 404", async () => {
	const canOf = async (canId: string) => (await sys.broker.call<SimulatedCan[]>("simulator.cans")).find(can => can.canId === canId)!;
	expect((await canOf("303")).level).toBeGreaterThan(0);
	const collected = await sys.broker.call<SimulatedCan, { canId: string }>("simulator.collect", { canId: "303" });
	expect(collected.level).toBeLessThan(3);
	await eventually(async () => ((await sys.get("/levels/303")).body as CanLevel).level === collected.level);
	expect(Number(seen.filter(r => r.can_id === "303").at(-1)!.level)).toBe(collected.level);
	// the reports after it rise from the new level, not from the one before the collection
	await sys.broker.call("simulator.burst", { count: 20 });
	expect((await canOf("303")).level).toBeLessThan(3);
	await expect(sys.broker.call("simulator.collect", { canId: "999" })).rejects.toMatchObject({ code: 404, type: "CAN_NOT_FOUND" });
	await expect(sys.broker.call("simulator.collect", {})).rejects.toMatchObject({ code: 422 });
});
