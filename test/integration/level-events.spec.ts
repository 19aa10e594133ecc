/**
 * What trashReport tells other services about levels: one `levels.updated` per applied batch with
 * the levels it changed (what the dashboard follows), and `level.updated` per changed level only
 * while some service listens to it (each one is a bus message per report).
 */
import type { Context, ServiceBroker } from "moleculer";
import type { CanLevel, LevelsUpdated } from "../../lib/contracts";
import { CHANNEL, DEAD_LETTER_CHANNEL } from "../../lib/ingest/report";
import { eventually, startSystem } from "../../harness/system";
import type { System } from "../../harness/system";

let sys: System;
const sent: string[] = [];
beforeAll(async () => {
	sys = await startSystem(["trashReport"]);
	// what the broker is asked to broadcast, listened to or not
	const broadcast = sys.broker.broadcast.bind(sys.broker);
	sys.broker.broadcast = ((name: string, ...rest: unknown[]) => (sent.push(name), broadcast(name, ...(rest as [])))) as ServiceBroker["broadcast"];
});
afterAll(() => sys.stop());

/** Publishes one report per can in one go and waits until each can shows it. */
async function burst(prefix: string, cans: number, level: number) {
	const ids = Array.from({ length: cans }, (_, i) => `${prefix}-${i}`);
	await Promise.all(ids.map(can_id => sys.broker.sendToChannel(CHANNEL, { can_id, level: String(level) })));
	await eventually(async () => {
		const levels = await sys.broker.call<CanLevel[]>("trashReport.levels");
		return ids.every(id => levels.some(l => l.canId === id && l.level === level));
	});
	return ids;
}

it("announces the levels a batch changed in one levels.updated, and no level.updated while nobody listens to it", async () => {
	const batches: CanLevel[][] = [];
	await sys.broker.createService({ name: "batchWatcher", events: { "levels.updated": (ctx: Context<LevelsUpdated>) => void batches.push(ctx.params.levels) } });
	sent.length = 0;
	const ids = await burst("quiet", 40, 20);
	await eventually(() => batches.flat().filter(l => l.canId.startsWith("quiet-")).length === 40);
	// each can once, at the level it reported, with its forecast's fields
	const announced = batches.flat().filter(l => l.canId.startsWith("quiet-"));
	expect(announced.map(l => l.canId).sort()).toEqual([...ids].sort());
	expect(announced.every(l => l.level === 20 && l.state === "normal" && "fullAt" in l)).toBe(true);
	// fewer events than levels: the batch is the unit
	expect(sent.filter(n => n === "levels.updated").length).toBeLessThan(40);
	expect(sent).not.toContain("level.updated");
});

it("sends level.updated for each changed level once a service listens to it", async () => {
	const each: CanLevel[] = [];
	await sys.broker.createService({ name: "levelWatcher", events: { "level.updated": (ctx: Context<CanLevel>) => void each.push(ctx.params) } });
	const ids = await burst("followed", 10, 35);
	await eventually(() => each.filter(l => l.canId.startsWith("followed-")).length === 10);
	expect(each.filter(l => l.canId.startsWith("followed-")).map(l => [l.canId, l.level])).toEqual(expect.arrayContaining(ids.map(id => [id, 35])));
});

it("passes the sender's request id and meta on to level.updated and to a dead letter (no Context is made per report)", async () => {
	const seen: [string, string | null, unknown][] = [];
	const seenBy = (what: string) => (ctx: Context<unknown, { tenant?: string }>) => void seen.push([what, ctx.requestID, ctx.meta.tenant]);
	await sys.broker.createService({
		name: "requestWatcher",
		actions: { send: (ctx: Context<object>) => ctx.broker.sendToChannel(CHANNEL, ctx.params, { ctx }) },
		events: { "level.updated": (ctx: Context<CanLevel, { tenant?: string }>) => void (ctx.params.canId === "traced" && seenBy("level.updated")(ctx)) },
		channels: { [DEAD_LETTER_CHANNEL]: { group: "requestWatcher", context: true, handler: seenBy("dead letter") } }
	});
	await sys.broker.waitForServices("requestWatcher");
	await sys.broker.call("requestWatcher.send", { can_id: "traced", level: "12" }, { requestID: "req-good", meta: { tenant: "north" } });
	await sys.broker.call("requestWatcher.send", { can_id: "traced", level: "high" }, { requestID: "req-bad", meta: { tenant: "south" } });
	await eventually(() => seen.length >= 2);
	expect(seen.sort()).toEqual([
		["dead letter", "req-bad", "south"],
		["level.updated", "req-good", "north"]
	]);
});
