/**
 * systemManager derives the worker registry from the broker's discovery; a REST call whose
 * target has no live worker answers 503 at once instead of hanging, and readiness says which.
 */
import type { ServiceSchema } from "moleculer";
import { startSystem, eventually } from "../../harness/system";
import type { System } from "../../harness/system";
import type { Worker, WorkerEvent } from "../../lib/contracts";

describe("the worker registry", () => {
	let sys: System;
	const events: { name: string; payload: WorkerEvent }[] = [];

	beforeAll(async () => {
		sys = await startSystem();
		await sys.broker.createService({
			name: "registryWatcher",
			events: {
				"worker.new"(ctx) {
					events.push({ name: "worker.new", payload: ctx.params as WorkerEvent });
				},
				"worker.del"(ctx) {
					events.push({ name: "worker.del", payload: ctx.params as WorkerEvent });
				}
			}
		} as ServiceSchema);
	});
	afterAll(() => sys.stop());

	it("lists every service type with its node and instance count", async () => {
		const res = await sys.get("/workers");
		expect(res.status).toBe(200);
		const types = (res.body as Worker[]).map(w => w.type);
		expect(types).toEqual(expect.arrayContaining(["db", "pilot", "rest", "simulator", "systemManager", "trashReport"]));
		expect(types).toEqual([...types].sort());
		for (const worker of res.body as Worker[]) expect(worker).toEqual({ type: worker.type, nodes: [sys.broker.nodeID], instances: 1 });
	});

	it("hides the channel adapter's internal services", async () => {
		const res = await sys.get("/workers");
		expect((res.body as Worker[]).filter(w => w.type.startsWith("$"))).toEqual([]);
	});

	it("announces worker.new and worker.del as services come and go", async () => {
		const extra = await sys.broker.createService({ name: "extraWorker" });
		await eventually(() => events.some(e => e.name === "worker.new" && e.payload.type === "extraWorker"));
		expect(await sys.broker.call("systemManager.has", { type: "extraWorker" })).toBe(true);

		await sys.broker.destroyService(extra);
		await eventually(() => events.some(e => e.name === "worker.del" && e.payload.type === "extraWorker"));
		expect(events.filter(e => e.payload.type === "extraWorker")).toEqual([
			{ name: "worker.new", payload: { type: "extraWorker", nodeID: sys.broker.nodeID } },
			{ name: "worker.del", payload: { type: "extraWorker", nodeID: sys.broker.nodeID } }
		]);
		expect(await sys.broker.call("systemManager.has", { type: "extraWorker" })).toBe(false);
		expect((await sys.get("/workers")).body.map((w: Worker) => w.type)).not.toContain("extraWorker");
	});

	it("rejects a malformed has() query", async () => {
		await expect(sys.broker.call("systemManager.has", { type: "" })).rejects.toMatchObject({ code: 422 });
	});
});

describe("a system with services missing", () => {
	let sys: System;
	beforeAll(async () => {
		sys = await startSystem(["rest", "systemManager", "pilot"]);
	});
	afterAll(() => sys.stop());

	it.each([
		["GET", "/movies", "db"],
		["POST", "/movies", "db"],
		["GET", "/levels", "trashReport"],
		["POST", "/levels", "trashReport"],
		["GET", "/reports/x", "trashReport"]
	])("%s %s answers 503 at once while %s has no worker", async (method, path) => {
		const started = Date.now();
		const res = await sys.request(method, path, method === "POST" ? { title: "A", can_id: "1", level: 1 } : undefined);
		expect(res.status).toBe(503);
		expect(res.body).toMatchObject({ name: "ServiceUnavailableError", code: 503 });
		expect(Date.now() - started).toBeLessThan(2_000);
	});

	it("is live but not ready, and readiness names what is missing", async () => {
		expect((await sys.get("/health/live")).status).toBe(200);
		const res = await sys.get("/health/ready");
		expect(res.status).toBe(503);
		expect(res.body.type).toBe("NOT_READY");
		expect(res.body.data.checks).toMatchObject({
			broker: "ok",
			"service:pilot": "ok",
			"service:db": "no live instance",
			"service:trashReport": "no live instance"
		});
	});

	it("becomes ready when the missing services start", async () => {
		const { default: db } = await import("../../services/db.service");
		const { default: trashReport } = await import("../../services/trashReport.service");
		sys.broker.createService(db as unknown as ServiceSchema);
		sys.broker.createService(trashReport as unknown as ServiceSchema);
		const res = await eventually(async () => {
			const r = await sys.get("/health/ready");
			return r.status === 200 && r;
		});
		expect(res.body.checks).toMatchObject({ "service:db": "ok", "store:db": "ok", "store:trashReport": "ok" });
		expect((await sys.get("/movies")).status).toBe(200);
	});
});
