/**
 * RequestTimeoutMiddleware takes the place of Moleculer's Timeout middleware: the same calls give
 * the same answers and the same RequestTimeoutErrors on a broker with either (the call's timeout,
 * else the action's, else `requestTimeout`; a nested call gets what is left of its parent's), and
 * both count timeouts in the same series. Ours also drops a remote call that timed out from the
 * transit, where Moleculer's left it pending.
 */
import { Errors, INTERNAL_MIDDLEWARES, ServiceBroker } from "moleculer";
import type { BrokerOptions, Context } from "moleculer";
import { RequestTimeoutMiddleware } from "../../middlewares/request-timeout.middleware";

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** The outcome of a call: its answer, or its error's class, message and data; and how long it took. */
async function outcome(call: Promise<unknown>) {
	const started = performance.now();
	try {
		return { answer: await call, ms: performance.now() - started };
	} catch (err) {
		const e = err as Errors.MoleculerError;
		return {
			error: { name: e.name, message: e.message, data: e.data, retryable: (e as Errors.MoleculerRetryableError).retryable },
			ms: performance.now() - started
		};
	}
}

async function drive(options: BrokerOptions) {
	const broker = new ServiceBroker({ logger: false, nodeID: "node-1", requestTimeout: 300, metrics: { enabled: true, reporter: [] }, ...options });
	broker.createService({
		name: "slow",
		actions: {
			wait: (ctx: Context<{ ms: number }>) => sleep(ctx.params.ms).then(() => `waited ${ctx.params.ms}`),
			// its own timeout, shorter than the broker's
			hurried: { timeout: 50, handler: () => sleep(150).then(() => "late") },
			fails: () => Promise.reject(new Errors.MoleculerClientError("No.", 409, "REFUSED")),
			// a call made 50 ms into a parent's 120 ms is given what is left: ~70 ms, not the parent's
			// 120 nor the broker's 300 (a timer may fire a fraction of a millisecond early: 70.16 was seen)
			parent: (ctx: Context) => sleep(50).then(() => ctx.call("slow.deadline")),
			deadline: (ctx: Context) => (ctx.options.timeout! > 40 && ctx.options.timeout! <= 80 ? "what was left" : ctx.options.timeout)
		}
	});
	await broker.start();
	try {
		const results = {
			inTime: await outcome(broker.call("slow.wait", { ms: 10 }, { timeout: 100 })),
			callTimeout: await outcome(broker.call("slow.wait", { ms: 200 }, { timeout: 50 })),
			actionTimeout: await outcome(broker.call("slow.hurried")),
			brokerTimeout: await outcome(broker.call("slow.wait", { ms: 500 })),
			noTimeout: await outcome(broker.call("slow.wait", { ms: 350 }, { timeout: 0 })),
			failure: await outcome(broker.call("slow.fails", {}, { timeout: 100 })),
			nested: await outcome(broker.call("slow.parent", {}, { timeout: 120 }))
		};
		const series = broker.metrics.list({ includes: ["moleculer.request.timeout.total"] })[0].values as unknown as { labels: object; value: number }[];
		const timeouts = series.map(({ labels, value }) => [labels, value]);
		return { results, timeouts };
	} finally {
		await broker.stop();
	}
}

it("answers and times out as Moleculer's Timeout middleware does", async () => {
	const [moleculers, ours] = await Promise.all([
		drive({}),
		drive({
			internalMiddlewares: false,
			middlewares: INTERNAL_MIDDLEWARES.map(name => (name === "Timeout" ? RequestTimeoutMiddleware : name)) as BrokerOptions["middlewares"]
		})
	]);
	const withoutTimes = (r: typeof ours.results) => Object.fromEntries(Object.entries(r).map(([k, { ms: _ms, ...rest }]) => [k, rest]));
	expect(withoutTimes(ours.results)).toEqual(withoutTimes(moleculers.results));
	expect(ours.timeouts).toEqual(moleculers.timeouts);

	// what both did, so that the comparison is not one of two empty outcomes
	const timedOut = (action: string) => ({
		name: "RequestTimeoutError",
		message: `Request is timed out when call '${action}' action on 'node-1' node.`,
		data: { action, nodeID: "node-1" },
		retryable: true
	});
	expect(withoutTimes(ours.results)).toEqual({
		inTime: { answer: "waited 10" },
		callTimeout: { error: timedOut("slow.wait") },
		actionTimeout: { error: timedOut("slow.hurried") },
		brokerTimeout: { error: timedOut("slow.wait") },
		noTimeout: { answer: "waited 350" },
		failure: { error: { name: "MoleculerClientError", message: "No.", data: undefined, retryable: false } },
		nested: { answer: "what was left" }
	});
	// each timed out near its own deadline: 50 ms, the action's 50, the broker's 300
	for (const [name, deadline] of [
		["callTimeout", 50],
		["actionTimeout", 50],
		["brokerTimeout", 300]
	] as const) {
		expect(ours.results[name].ms).toBeGreaterThanOrEqual(deadline - 5);
		expect(ours.results[name].ms).toBeLessThan(deadline + 60);
	}
	expect(ours.timeouts).toEqual([
		[{ service: "slow", action: "slow.wait" }, 2],
		[{ service: "slow", action: "slow.hurried" }, 1]
	]);
});

it("drops a remote call whose answer never came from the transit at its deadline, so a stop does not wait for it", async () => {
	const options = (nodeID: string): BrokerOptions => ({
		logger: false,
		nodeID,
		transporter: "Fake",
		internalMiddlewares: false,
		middlewares: INTERNAL_MIDDLEWARES.map(name => (name === "Timeout" ? RequestTimeoutMiddleware : name)) as BrokerOptions["middlewares"],
		tracking: { enabled: true, shutdownTimeout: 5_000 }
	});
	const [caller, callee] = [new ServiceBroker(options("caller")), new ServiceBroker(options("callee"))];
	callee.createService({ name: "slow", actions: { wait: () => sleep(50).then(() => "done") } });
	await Promise.all([caller.start(), callee.start()]);
	await caller.waitForServices("slow");
	// the callee answers, but its answers are lost on the way (a bus that died, a replica killed)
	(callee.transit as unknown as { sendResponse(): Promise<void> }).sendResponse = () => Promise.resolve();
	const pending = (caller.transit as unknown as { pendingRequests: Map<string, unknown> }).pendingRequests;
	try {
		const call = caller.call("slow.wait", {}, { timeout: 200 });
		expect(pending.size).toBe(1);
		await expect(call).rejects.toThrow(Errors.RequestTimeoutError);
		expect(pending.size).toBe(0);
		const stopping = performance.now();
		await caller.stop();
		// the context tracker had nothing left to wait for: not the 5 s of shutdownTimeout
		expect(performance.now() - stopping).toBeLessThan(1_000);
	} finally {
		await Promise.all([caller.stop(), callee.stop()]);
	}
});
