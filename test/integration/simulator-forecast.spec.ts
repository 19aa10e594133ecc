/**
 * The simulated fleet as the forecasts see it: cans that fill at known speeds (fast ones here, so
 * a few seconds of reports are enough) give a fill rate close to those speeds, and a can the
 * simulator collects is recorded as emptied.
 */
import type { CanLevel, Collection, SimulatedCan, SimulatorStatus } from "../../lib/contracts";
import { startSystem, eventually } from "../../harness/system";
import type { System } from "../../harness/system";

describe("a fast-filling fleet (minutes, not hours, from empty to full)", () => {
	let fast: System;
	beforeAll(async () => {
		// 0.5 to 1 point a second, a report every 200 ms: the forecast has something to see within seconds
		fast = await startSystem(
			["systemManager", "rest", "trashReport", "simulator"],
			{},
			{ simulator: { cans: 4, intervalMs: 200, autostart: false, fillRates: [1800, 3600] } }
		);
	});
	afterAll(() => fast.stop());

	it("reports levels that rise at each can's own speed: the fill rate worked out from them is within 10 % of it", async () => {
		await fast.broker.call("simulator.start");
		const truth = await fast.broker.call<SimulatedCan[]>("simulator.cans");
		// 15 reports a can, over 3 s
		await eventually(async () => (await fast.broker.call<SimulatorStatus>("simulator.status")).published >= 4 * 15, 6_000, 50);
		await fast.broker.call("simulator.stop");
		const levels = await eventually(async () => {
			const body = (await fast.get("/levels")).body as CanLevel[];
			return body.length === 4 && body.every(can => can.fillRate != null) && body;
		});
		// a can that reached 100 % in the meantime rises no more
		const compared = levels.filter(can => can.level < 99).map(can => ({ can, speed: truth.find(t => t.canId === can.canId)!.fillRate }));
		console.log(`simulator: true fill rate → worked out, %/h: ${compared.map(({ can, speed }) => `${speed} → ${can.fillRate}`).join(", ")}`);
		expect(compared.length).toBeGreaterThan(0);
		for (const { can, speed } of compared) expect(Math.abs(can.fillRate! - speed) / speed).toBeLessThan(0.1);
	});

	it("a collected can is recorded as emptied (a drop of more than EMPTIED_DROP points)", async () => {
		await fast.broker.call("simulator.start");
		// a can well above the drop that counts as an emptying: the cans start anywhere from 0 to 60 %
		// and rise at least 0.5 point a second, so one is there within 90 s (in 30 s, usually: CI once waited longer)
		const full = await eventually(async () => (await fast.broker.call<SimulatedCan[]>("simulator.cans")).find(can => can.level! > 45), 90_000, 100);
		await fast.broker.call("simulator.collect", { canId: full.canId });
		const collections = await eventually(async () => {
			const body = (await fast.get(`/cans/${full.canId}/collections`)).body as Collection[];
			return body.length > 0 && body;
		});
		expect(collections[0].levelBefore).toBeGreaterThan(40);
		expect(collections[0].levelAfter).toBeLessThan(3);
		await fast.broker.call("simulator.stop");
	}, 110_000);
});
