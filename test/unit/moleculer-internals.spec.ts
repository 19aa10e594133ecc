/**
 * The system's brokers run Moleculer's internal middlewares, listed by moleculer.config.ts rather
 * than added by Moleculer: all of them, in Moleculer's order, with Metrics and Timeout replaced
 * by ours (test/unit/request-metrics.spec.ts, request-timeout.spec.ts), and HotReload when
 * moleculer-runner asks for it (`npm run dev`).
 */
import { INTERNAL_MIDDLEWARES, ServiceBroker } from "moleculer";
import brokerOptions from "../../moleculer.config";
import { RequestMetricsMiddleware } from "../../middlewares/request-metrics.middleware";
import { RequestTimeoutMiddleware } from "../../middlewares/request-timeout.middleware";

it("runs Moleculer's internal middlewares in Moleculer's order, Metrics and Timeout replaced", () => {
	const { middlewares = [], internalMiddlewares } = brokerOptions(null);
	expect(internalMiddlewares).toBe(false);
	// after the system's own, before the one that adds HotReload
	const internal = middlewares.slice(-INTERNAL_MIDDLEWARES.length - 1, -1);
	const replaced: Record<string, unknown> = { Metrics: RequestMetricsMiddleware, Timeout: RequestTimeoutMiddleware };
	expect(internal).toEqual(INTERNAL_MIDDLEWARES.map(name => replaced[name] ?? name));
});

it("adds Moleculer's HotReload middleware when moleculer-runner asks for hot reload, and only then", async () => {
	for (const hotReload of [false, true]) {
		const broker = new ServiceBroker({ ...brokerOptions(null), logger: false, hotReload });
		const names = broker.middlewares.list.map((mw: { name?: string }) => mw.name);
		expect(names.includes("HotReload")).toBe(hotReload);
		// Moleculer's names: what its REPL and its logs show
		expect(names).toEqual(expect.arrayContaining(["Validator", "ContextTracker", "Timeout", "Retry", "Metrics"]));
		await broker.stop();
	}
});
