/**
 * SERIALIZER changes only the bytes on the bus: the same deployment works with JSON (the
 * default) and with the binary serializers, on NATS and on RabbitMQ.
 */
import { contractHolds, startDeployment } from "../../harness/deployment";
import type { Deployment } from "../../harness/deployment";

describe.each([
	["nats", "Notepack"],
	["amqp", "MsgPack"],
	["nats", "MsgPack"]
] as const)("on %s with %s", (kind, serializer) => {
	let sys: Deployment;
	beforeAll(async () => {
		sys = await startDeployment(kind, {
			env: { SERIALIZER: serializer },
			layout: [
				["gateway", ["rest", "systemManager", "pilot"]],
				["stores", ["db", "trashReport"]]
			]
		});
	}, 90_000);
	afterAll(() => sys?.stop());

	it("serves the contract's main rows across processes", async () => {
		await contractHolds(sys);
		// The test's node speaks only the chosen serializer: an answer proves the processes do too.
		expect(sys.broker.options.serializer).toBe(serializer);
		await expect(sys.broker.call("db.count", {}, { timeout: 3_000 })).resolves.toEqual(expect.any(Number));
		const workers = (await sys.get("/workers")).body as { type: string; nodes: string[] }[];
		expect(workers.find(w => w.type === "db")?.nodes).toEqual([sys.procs[1].nodeID]);
	});
});
