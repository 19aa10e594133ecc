/**
 * RequestMetricsMiddleware takes the place of Moleculer's Metrics middleware: driven by the same
 * calls and events (answered, failed, nested, by several callers), a broker with it holds the same
 * moleculer_request_* and moleculer_event_received_* series, with the same values, as a broker
 * with Moleculer's.
 */
import { Errors, INTERNAL_MIDDLEWARES, ServiceBroker } from "moleculer";
import type { BrokerOptions, Context, ServiceSchema } from "moleculer";
import { RequestMetricsMiddleware } from "../../middlewares/request-metrics.middleware";

const REQUEST_AND_EVENT_METRICS = [
	"moleculer.request.total",
	"moleculer.request.active",
	"moleculer.request.error.total",
	"moleculer.request.levels",
	"moleculer.request.time",
	"moleculer.event.received.total",
	"moleculer.event.received.active",
	"moleculer.event.received.error.total",
	"moleculer.event.received.time"
];

const services: ServiceSchema[] = [
	{
		name: "greeter",
		actions: {
			hello: { params: { name: "string" }, handler: (ctx: Context<{ name: string }>) => `Hello ${ctx.params.name}` },
			fail: () => Promise.reject(new Errors.MoleculerClientError("No.", 409, "REFUSED")),
			// a nested call: level 2, and the callee sees this service as its caller
			twice: (ctx: Context) => Promise.all([ctx.call("greeter.hello", { name: "a" }), ctx.call("greeter.hello", { name: "b" })])
		}
	},
	{
		name: "listener",
		events: {
			"thing.*": () => undefined,
			"thing.broken": {
				group: "repairs",
				handler: () => Promise.reject(new Error("cannot"))
			}
		}
	}
];

type Series = { labels: Record<string, unknown>; value?: number; count?: number };

async function drive(options: BrokerOptions) {
	const broker = new ServiceBroker({ logger: false, metrics: { enabled: true, reporter: [] }, ...options });
	services.forEach(schema => broker.createService(schema));
	await broker.start();
	try {
		await broker.call("greeter.hello", { name: "x" });
		await broker.call("greeter.twice");
		await broker.call("greeter.twice");
		await expect(broker.call("greeter.fail")).rejects.toThrow("No.");
		await expect(broker.call("greeter.hello", {})).rejects.toThrow("Parameters validation error");
		await broker.emit("thing.done", {});
		await broker.broadcast("thing.broken", {});
		// series as the Prometheus reporter reads them; request times are compared by count alone
		return broker.metrics.list({ includes: REQUEST_AND_EVENT_METRICS }).map(metric => ({
			name: metric.name,
			// a list of series at run time (the typings say Map)
			values: (metric.values as unknown as Series[])
				.map(v => ({ labels: v.labels, ...(v.count !== undefined ? { count: v.count } : { value: v.value }) }))
				.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)))
		}));
	} finally {
		await broker.stop();
	}
}

it("records the same request and event series as Moleculer's Metrics middleware", async () => {
	const moleculers = await drive({});
	const ours = await drive({
		internalMiddlewares: false,
		middlewares: INTERNAL_MIDDLEWARES.map(name => (name === "Metrics" ? RequestMetricsMiddleware : name)) as BrokerOptions["middlewares"]
	});
	expect(ours).toEqual(moleculers);
	// the calls above moved them: a comparison of empty lists would prove nothing
	const total = moleculers.find(m => m.name === "moleculer.request.total")!.values;
	expect(total).toContainEqual({ labels: { service: "greeter", action: "greeter.hello", type: "local", caller: "greeter" }, value: 4 });
	expect(moleculers.find(m => m.name === "moleculer.request.error.total")!.values.map(v => v.labels)).toContainEqual(
		expect.objectContaining({ action: "greeter.fail", errorCode: 409, errorType: "REFUSED" })
	);
	expect(moleculers.find(m => m.name === "moleculer.event.received.error.total")!.values.map(v => v.labels)).toContainEqual(
		expect.objectContaining({ event: "thing.broken", group: "repairs" })
	);
});
