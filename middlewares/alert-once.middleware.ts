import type { Context, Middleware } from "moleculer";
import { isAlert } from "../lib/fleet/alerts";

/** How many alert ids each handler remembers: far more than arrive within the bus's redelivery time. */
export const ALERT_IDS_REMEMBERED = 10_000;

type Handler = (ctx: Context) => Promise<unknown>;

/**
 * Each alert event (`can.full`, `can.emptied`, `can.silent`) reaches each handler once: a second
 * event with an alert id the handler has had is dropped. The alert consumers broadcast an alert
 * and then record it done, so a consumer killed in between (kill -9) has its copy redelivered and
 * broadcast again (at least once: see AlertsMixin); this makes that exactly once in effect for
 * every listener on a node with the system's broker options, as receivers of the webhooks
 * deduplicate on `X-Alert-Id`. Per handler, the newest ALERT_IDS_REMEMBERED ids.
 */
export function AlertOnceMiddleware(): Middleware {
	return {
		name: "AlertOnce",
		localEvent(next: Handler): Handler {
			const seen = new Set<string>();
			return function alertOnce(ctx: Context) {
				const alert = ctx.params;
				if (!isAlert(alert) || alert.type !== ctx.eventName) return next(ctx);
				if (seen.has(alert.id)) return Promise.resolve();
				seen.add(alert.id);
				// a Set iterates in insertion order: the first is the oldest
				if (seen.size > ALERT_IDS_REMEMBERED) seen.delete(seen.values().next().value!);
				return next(ctx);
			};
		}
	} as Middleware;
}
