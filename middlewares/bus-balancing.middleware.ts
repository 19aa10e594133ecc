import { Errors } from "moleculer";
import type { Context, Middleware, ServiceBroker } from "moleculer";

type Call = (action: unknown, params?: unknown, opts?: { nodeID?: string }) => Promise<unknown>;
type Pending = { reject(err: Error): void };
type Transit = { pendingRequests: Map<string, Pending>; removePendingRequest(id: string): void };

/**
 * What the broker needs where the bus balances calls (`disableBalancer`: a call goes to the
 * action's queue, not to a chosen node):
 *  - an action this very node serves goes to this node, as `preferLocal` would have it, not to the
 *    action's queue (where a service created a moment ago is not subscribed yet: such a call was
 *    lost). Moleculer still sends it through the bus, to this node's own subject: a round trip,
 *    but its own tested path, meta and all;
 *  - a call that got no answer by its deadline is dropped from the transit. Moleculer's timeout
 *    fails the caller but keeps the request pending until its node disconnects, and a call sent
 *    to a queue has no node: one lost with a killed replica stayed pending for ever, and the
 *    broker's graceful stop waited `shutdownTimeout` for it.
 * Registered first, so both wrap Moleculer's own call and request, inside every other middleware.
 */
export function BusBalancingMiddleware(): Middleware {
	let broker: ServiceBroker;
	const servesLocally = (action: string): boolean => broker.registry.getActionEndpoints(action)?.hasLocal() === true;
	return {
		name: "BusBalancing",
		created(b: ServiceBroker) {
			broker = b;
		},
		call(next: Call): Call {
			return (action, params, opts) =>
				broker.options.disableBalancer && typeof action === "string" && opts?.nodeID == null && servesLocally(action)
					? next(action, params, { ...opts, nodeID: broker.nodeID })
					: next(action, params, opts);
		},
		remoteAction(next: (ctx: Context) => Promise<unknown>) {
			return (ctx: Context) => {
				const timeout = ctx.options.timeout ?? broker.options.requestTimeout ?? 0;
				if (!broker.options.disableBalancer || ctx.nodeID != null || !(timeout > 0)) return next(ctx);
				const transit = broker.transit as unknown as Transit;
				const timer = setTimeout(() => {
					const pending = transit.pendingRequests.get(ctx.id);
					transit.removePendingRequest(ctx.id);
					pending?.reject(new Errors.RequestTimeoutError({ action: ctx.action?.name, nodeID: null }));
				}, timeout);
				return next(ctx).finally(() => clearTimeout(timer));
			};
		}
	} as unknown as Middleware;
}
