import * as Moleculer from "moleculer";
import type { BrokerOptions, ServiceBroker } from "moleculer";

type Factory = (this: ServiceBroker, broker: ServiceBroker) => Record<string, unknown>;

/** One of Moleculer's built-in middlewares (exported as `Middlewares`, not in its typings), made for `broker`. */
export function builtInMiddleware(name: string, broker: ServiceBroker): Record<string, unknown> {
	return (Moleculer as unknown as { Middlewares: Record<string, Factory> }).Middlewares[name].call(broker, broker);
}

/**
 * What `internalMiddlewares: true` would add, to list instead (with `internalMiddlewares: false`):
 * Moleculer's INTERNAL_MIDDLEWARES in its order, those named in `replaced` swapped for the given
 * ones, and HotReload when moleculer-runner runs with --hot.
 */
export function internalMiddlewares(replaced: Record<string, (broker: ServiceBroker) => unknown>): NonNullable<BrokerOptions["middlewares"]> {
	return [
		...Moleculer.INTERNAL_MIDDLEWARES.map(name => replaced[name] ?? name),
		(broker: ServiceBroker) => (broker.options.hotReload ? builtInMiddleware("HotReload", broker) : null)
	] as NonNullable<BrokerOptions["middlewares"]>;
}
