import { Errors, METRIC } from "moleculer";
import type { ActionSchema, Context, Middleware, ServiceBroker } from "moleculer";
import { Stream } from "node:stream";
import { builtInMiddleware } from "./moleculer-internals";

type Handler = (ctx: Context) => Promise<unknown>;
type Transit = { pendingRequests: Map<string, { reject(err: Error): void }>; removePendingRequest(id: string): void };
const { TimeoutError, RequestTimeoutError } = Errors as unknown as {
	TimeoutError: new (...args: unknown[]) => Error;
	RequestTimeoutError: typeof Errors.RequestTimeoutError;
};

/**
 * Moleculer's Timeout middleware (used in its place among INTERNAL_MIDDLEWARES), with one timer
 * and one promise per call. Moleculer's goes through its `Promise.prototype.timeout` polyfill: a
 * second promise for the timer, a `Promise.race` and two more steps, then a `.catch` of its own,
 * which made it the costliest of the internal middlewares per local call. The same defaults
 * (the call's timeout, else the action's, else `requestTimeout`), the same start time for
 * distributed timeouts, the same RequestTimeoutError, warning, stream signal and metric.
 *
 * One thing more: a remote call that timed out is dropped from the transit. Moleculer keeps it
 * pending until its node disconnects, and a call the bus balances (sent to the action's queue,
 * `disableBalancer`) has no node: one lost with a killed replica stayed pending for ever, and the
 * broker's graceful stop waited `shutdownTimeout` for it.
 */
export function RequestTimeoutMiddleware(broker: ServiceBroker): Middleware {
	const moleculer = builtInMiddleware("Timeout", broker);

	const wrap =
		(remote: boolean) =>
		(handler: Handler, action: ActionSchema & { service?: { fullName: string } }): Handler => {
			const actionTimeout = action.timeout;
			const actionName = action.name;
			const service = action.service ? action.service.fullName : null;

			const timedOut = (ctx: Context, err: unknown) => {
				if (!(err instanceof TimeoutError)) return err;
				const nodeID = ctx.nodeID;
				broker.logger.warn(`Request '${actionName}' is timed out.`, { requestID: ctx.requestID, nodeID, timeout: ctx.options.timeout });
				if (ctx.params instanceof Stream) ctx.params.emit("moleculer-timeout-middleware", ctx.options.timeout);
				broker.metrics.increment(METRIC.MOLECULER_REQUEST_TIMEOUT_TOTAL, { service, action: actionName });
				const timeoutError = new RequestTimeoutError({ action: actionName!, nodeID: nodeID! });
				if (remote) {
					const transit = broker.transit as unknown as Transit | undefined;
					const pending = transit?.pendingRequests.get(ctx.id);
					transit?.removePendingRequest(ctx.id);
					// settles the request's own promise, which nothing would settle now
					pending?.reject(timeoutError);
				}
				return timeoutError;
			};

			return function timeoutMiddleware(ctx: Context) {
				const opts = ctx.options;
				if (opts.timeout == null) opts.timeout = actionTimeout ?? broker.options.requestTimeout;
				const timeout = opts.timeout!;
				// the start of distributed timeouts: what the calls this one makes have left
				if (timeout > 0 && !ctx.startHrTime) ctx.startHrTime = process.hrtime();
				const running = handler(ctx);
				if (!(timeout > 0)) return running;
				return new Promise((resolve, reject) => {
					const timer = setTimeout(() => reject(timedOut(ctx, new TimeoutError())), timeout);
					running.then(
						res => {
							clearTimeout(timer);
							resolve(res);
						},
						err => {
							clearTimeout(timer);
							reject(timedOut(ctx, err));
						}
					);
				});
			};
		};

	return { ...moleculer, localAction: wrap(false), remoteAction: wrap(true) } as unknown as Middleware;
}
