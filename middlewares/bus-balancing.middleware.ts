import type { Middleware, ServiceBroker } from "moleculer";

type Call = (action: unknown, params?: unknown, opts?: { nodeID?: string }) => Promise<unknown>;

/**
 * What the broker needs where the bus balances calls (`disableBalancer`: a call goes to the
 * action's queue, not to a chosen node): an action this very node serves goes to this node, as
 * `preferLocal` would have it, not to the action's queue (where a service created a moment ago is
 * not subscribed yet: such a call was lost). Moleculer still sends it through the bus, to this
 * node's own subject: a round trip, but its own tested path, meta and all. (A queued call nobody
 * answered by its deadline is dropped by RequestTimeoutMiddleware.)
 * Registered first, so it wraps Moleculer's own call, inside every other middleware.
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
		}
	} as unknown as Middleware;
}
