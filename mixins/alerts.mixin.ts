import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ChannelSchema, Context, MetricRegistry, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { CHANNEL_IN_FLIGHT, flushed, holdMessage } from "../lib/bus";
import { config } from "../lib/config";
import type { CanAlert } from "../lib/contracts";
import {
	ALERT_CHANNEL,
	ALERT_DEAD_LETTER_CHANNEL,
	ALERT_METRICS,
	ALERT_RECORD_RETENTION_MS,
	ALERT_TYPES,
	claim,
	deliveryId,
	DELIVERY_OUTCOMES,
	isAlertMessage,
	markDone,
	signature,
	silenceCheckEvery,
	silentAlerts,
	WEBHOOK_CHANNEL
} from "../lib/fleet/alerts";
import type { AlertMessage, AlertStores, DeliveryOutcome } from "../lib/fleet/alerts";
import { thresholdOf } from "../lib/ingest/apply";
import type { CanDoc, LevelDoc } from "../lib/ingest/apply";
import { CHANNEL_MAX_DELIVERIES, RETRIES, retryDelay, retrying } from "../lib/retry";
import type { Store } from "../lib/store";
import type { StoresMethods } from "./stores.mixin";

interface AlertsSettings extends ServiceSettingSchema {
	/** A can that has not reported for this long raises `can.silent`. */
	silentAfterMs: number;
	/** Where alerts are POSTed; none: no "webhooks" consumer. */
	webhookUrls: string[];
	webhookSecret: string | null;
	fullThreshold: number;
}

interface AlertsVars {
	stores: AlertStores & { levels: Store<LevelDoc>; cans: Store<CanDoc> };
	alertMetrics: MetricRegistry | null;
	alertTimers: NodeJS.Timeout[];
	/** Until then this node may not know every listener yet: its events would reach none of them. */
	discoveredAt: number;
}

/** The service also mixes StoresMixin in (its tables hold the alerts): `storeRetrying` is its. */
interface AlertsMethods extends Pick<StoresMethods, "storeRetrying"> {
	raiseAlerts(alerts: CanAlert[], ctx?: Context): Promise<void>;
	onAlert(ctx: Context<unknown>, raw: unknown): Promise<void>;
	onWebhook(ctx: Context<unknown>, raw: unknown): Promise<void>;
	emitOnce(msg: AlertMessage, ctx: Context, raw: unknown): Promise<void>;
	deliver(msg: AlertMessage, url: string, raw: unknown): Promise<void>;
	postAlert(url: string, alert: CanAlert): Promise<void>;
	checkSilence(): Promise<void>;
	waitWhileRunning(ms: number): Promise<void>;
	countDelivery(outcome: DeliveryOutcome): void;
}

/** A webhook POST that takes longer than this failed (and is tried again). */
export const WEBHOOK_TIMEOUT_MS = 5_000;
/**
 * Webhook deliveries held at once per consumer group (on NATS, over all replicas). A receiver that
 * is down holds this many alerts in their retries; the alerts after them wait on the bus, also for
 * the other URLs.
 */
export const WEBHOOK_IN_FLIGHT = 64;
/** How long a started node waits before its first alert event: a few heartbeats (LIVENESS, 0.5 s), for discovery. */
const DISCOVERY_MS = 2_000;

/**
 * Alerts (`can.full`, `can.emptied`, `can.silent`) for a service with the ingest's stores
 * (trashReport): `raiseAlerts` publishes them on the durable `can-alerts` channel; the "alerts"
 * group turns each alert id into exactly one event however often it was published or redelivered;
 * the "webhooks" group POSTs each to every `WEBHOOK_URLS` receiver until it answers 2xx. A timer
 * raises `can.silent` for cans that stopped reporting.
 *
 * Exactly once in effect: each published copy carries its own id, and whoever handles a copy
 * first claims the alert for that copy with one compare-and-set, broadcasts, waits until the
 * broadcast has left the process (`flushed`: the NATS transporter sends once per loop turn), marks
 * it done, and only then acks. Another copy that finds the claim acks at once: the claimant's copy stays
 * unacked until done, so if its consumer dies (kill -9) the bus redelivers that copy, which finds
 * its own claim and broadcasts again. So an event is never lost, and repeated only after such a
 * death (a store round trip wide); AlertOnceMiddleware, in every node's broker options, drops the
 * repeat at each listener. The other order (mark, then broadcast) loses instead: a consumer killed
 * after the store recorded the mark but before its busy event loop read the answer and broadcast
 * (fleet-burst.spec lost 3–4 events in some runs). Moleculer events are not durable anyway (a
 * listener that is down misses them), which is what the webhooks are for. Webhooks are claimed
 * the same way per alert and URL; a death between the receiver's 2xx and the mark POSTs again,
 * so receivers deduplicate on `X-Alert-Id`.
 */
export function AlertsMixin(): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema<AlertsSettings, AlertsMethods, AlertsVars>> = {
		settings: {
			// sent to other nodes with the service's settings unless listed here
			$secureSettings: ["webhookUrls", "webhookSecret"],
			silentAfterMs: config.silentAfterMs,
			webhookUrls: config.webhookUrls,
			webhookSecret: config.webhookSecret,
			fullThreshold: config.fullThreshold
		},

		/**
		 * The consumers, added once the schema is merged: Moleculer lets a service's own `channels`
		 * replace a mixin's. The "webhooks" one only where there are receivers.
		 */
		merged(merged: ServiceSchema) {
			const channels: Record<string, ChannelSchema<Service>> = {
				[ALERT_CHANNEL]: {
					group: "alerts",
					maxInFlight: CHANNEL_IN_FLIGHT,
					maxRetries: CHANNEL_MAX_DELIVERIES,
					deadLettering: { enabled: true, queueName: ALERT_DEAD_LETTER_CHANNEL, exchangeName: ALERT_DEAD_LETTER_CHANNEL },
					context: true,
					handler(ctx: Context<unknown>, raw: unknown) {
						return (this as unknown as AlertsMethods).onAlert(ctx, raw);
					}
				}
			};
			if ((merged.settings as AlertsSettings).webhookUrls.length)
				channels[WEBHOOK_CHANNEL] = {
					group: "webhooks",
					maxInFlight: WEBHOOK_IN_FLIGHT,
					// never dead-lettered: a delivery is retried for as long as the broker runs, and a
					// copy nacked on shutdown comes back as often as it takes
					maxRetries: Number.MAX_SAFE_INTEGER,
					deadLettering: { enabled: false },
					context: true,
					handler(ctx: Context<unknown>, raw: unknown) {
						return (this as unknown as AlertsMethods).onWebhook(ctx, raw);
					}
				};
			merged.channels = { ...merged.channels, ...channels };
		},

		methods: {
			/**
			 * Publishes alerts on the durable bus; resolves when the bus holds them. Raising one alert
			 * again (a redelivered report, another replica) is harmless: its id makes it one event.
			 */
			async raiseAlerts(alerts: CanAlert[], ctx?: Context): Promise<void> {
				const send = (channel: string, msg: AlertMessage) => retrying(RETRIES.publish, () => this.broker.sendToChannel(channel, msg, ctx ? { ctx } : {}));
				await Promise.all(
					alerts.map(async alert => {
						const msg = { alert, copy: randomUUID() };
						// webhooks first: once the event's copy is consumed, the silence check no longer raises it
						if (this.settings.webhookUrls.length) await send(WEBHOOK_CHANNEL, msg);
						await send(ALERT_CHANNEL, msg);
					})
				);
			},

			/** The "alerts" group's handler. */
			async onAlert(ctx: Context<unknown>, raw: unknown): Promise<void> {
				const msg = ctx.params;
				if (!isAlertMessage(msg)) return void this.logger.warn("Dropped a malformed message on the alert channel:", JSON.stringify(msg));
				await this.emitOnce(msg, ctx, raw);
			},

			/** The "webhooks" group's handler: every receiver gets the alert once (or, after a crash, again). */
			async onWebhook(ctx: Context<unknown>, raw: unknown): Promise<void> {
				const msg = ctx.params;
				if (!isAlertMessage(msg)) return void this.logger.warn("Dropped a malformed message on the webhook channel:", JSON.stringify(msg));
				// held for as long as a receiver is down: keep JetStream from handing it to another replica
				const release = holdMessage(raw);
				try {
					await Promise.all(this.settings.webhookUrls.map(url => this.deliver(msg, url, raw)));
				} finally {
					release();
				}
			},

			/** Claim, broadcast, mark done: at least one event per alert id, and once but for a crash (see the mixin's comment). */
			async emitOnce({ alert, copy }: AlertMessage, ctx: Context, raw: unknown): Promise<void> {
				// a replica that just (re)started takes a backlog at once, before the other nodes told it
				// who listens: an event broadcast then reaches nobody
				if (Date.now() < this.discoveredAt) await this.waitWhileRunning(this.discoveredAt - Date.now());
				const doc = { _id: alert.id, type: alert.type, canId: alert.canId, at: alert.at };
				const state = await this.storeRetrying(() => claim(this.stores.alerts, doc, copy, new Date().toISOString()), raw);
				if (state !== "mine") return void this.logger.debug(`Alert ${alert.id}: ${state === "done" ? "raised before" : "another copy raises it"}`);
				await ctx.broadcast(alert.type, alert);
				// recorded once it is out: a process killed with the event still queued in it would lose it
				await flushed(this.broker);
				this.alertMetrics?.increment(ALERT_METRICS.alerts, { type: alert.type });
				await this.storeRetrying(() => markDone(this.stores.alerts, doc, copy, new Date().toISOString()), raw);
				this.logger.info(`Alert ${alert.id}`);
			},

			/** POSTs one alert to one receiver, once, retrying with backoff until it answers 2xx or the broker stops. */
			async deliver({ alert, copy }: AlertMessage, url: string, raw: unknown): Promise<void> {
				const doc = { _id: deliveryId(alert.id, url), alertId: alert.id, url };
				const state = await this.storeRetrying(() => claim(this.stores.webhookDeliveries, doc, copy, new Date().toISOString()), raw);
				if (state !== "mine") return;
				for (let attempt = 1; ; attempt++) {
					try {
						await this.postAlert(url, alert);
						break;
					} catch (err) {
						this.countDelivery("failed");
						const delayMs = retryDelay(RETRIES.webhook, attempt);
						// the first failure and then ever more rarely: a receiver down for an hour is a few lines
						if ((attempt & (attempt - 1)) === 0)
							this.logger.warn(`Webhook ${url} failed for alert ${alert.id} (attempt ${attempt}: ${(err as Error).message}); retrying in ${delayMs} ms`);
						await this.waitWhileRunning(delayMs);
					}
				}
				this.countDelivery("delivered");
				await this.storeRetrying(() => markDone(this.stores.webhookDeliveries, doc, copy, new Date().toISOString()), raw);
			},

			/** One POST; throws unless the receiver answers 2xx within WEBHOOK_TIMEOUT_MS. Redirects are not followed. */
			async postAlert(url: string, alert: CanAlert): Promise<void> {
				const body = JSON.stringify(alert);
				const headers: Record<string, string> = { "Content-Type": "application/json", "X-Alert-Id": alert.id };
				if (this.settings.webhookSecret) headers["X-Signature-256"] = signature(this.settings.webhookSecret, body);
				const res = await fetch(url, { method: "POST", body, headers, redirect: "manual", signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
				await res.body?.cancel();
				if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
			},

			/** Raises `can.silent` for the silent cans whose silence was not raised yet. */
			async checkSilence(): Promise<void> {
				const quiet = silentAlerts(await this.stores.levels.all(), Date.now(), this.settings.silentAfterMs, this.settings.fullThreshold);
				if (!quiet.length) return;
				// each with its can's own threshold, where it has one
				const cans = new Map((await this.stores.cans.getMany(quiet.map(a => a.canId))).map(c => [c._id, c]));
				const silent = quiet.map(a => ({ ...a, fullThreshold: thresholdOf(cans.get(a.canId), this.settings) }));
				const known = await Promise.all(silent.map(alert => this.stores.alerts.get(alert.id)));
				const fresh = silent.filter((_, i) => !known[i]);
				if (fresh.length) await this.raiseAlerts(fresh);
			},

			/** Waits `ms`, or throws as soon as the broker stops (the message then goes back to the bus). */
			async waitWhileRunning(ms: number): Promise<void> {
				const until = Date.now() + ms;
				while (Date.now() < until) {
					if (!this.broker.started) throw new Error("The broker is stopping: the alert goes back to the bus");
					await sleep(Math.min(250, until - Date.now()));
				}
			},

			countDelivery(outcome: DeliveryOutcome): void {
				this.alertMetrics?.increment(ALERT_METRICS.deliveries, { outcome });
			}
		},

		created() {
			this.alertTimers = [];
			this.alertMetrics = this.broker.isMetricsEnabled() ? this.broker.metrics : null;
			const metrics = this.alertMetrics;
			if (!metrics) return;
			metrics.register({
				type: "counter",
				name: ALERT_METRICS.alerts,
				labelNames: ["type"],
				description: "Alerts raised as events (each alert id once, again after a consumer crashed mid-way)"
			});
			metrics.register({
				type: "counter",
				name: ALERT_METRICS.deliveries,
				labelNames: ["outcome"],
				description: "Webhook POSTs: delivered (2xx), failed (an attempt that will be retried)"
			});
			for (const type of ALERT_TYPES) metrics.increment(ALERT_METRICS.alerts, { type }, 0);
			for (const outcome of DELIVERY_OUTCOMES) metrics.increment(ALERT_METRICS.deliveries, { outcome }, 0);
		},

		started() {
			// on the embedded bus every listener is local: nothing to discover
			this.discoveredAt = this.broker.transit ? Date.now() + DISCOVERY_MS : 0;
			const every = (ms: number, task: () => Promise<unknown>, what: string) => {
				const run = () => task().catch(err => this.logger.warn(`${what} failed:`, (err as Error).message));
				this.alertTimers.push(setInterval(run, ms).unref());
				return run;
			};
			const checkSilence = every(silenceCheckEvery(this.settings.silentAfterMs), () => this.checkSilence(), "Checking for silent cans");
			// once at start too, as soon as the channels are connected (after every service has started)
			const adapter = () => (this.broker as unknown as { channelAdapter?: { connected?: boolean } }).channelAdapter;
			const first = setInterval(() => {
				if (!this.broker.started || !adapter()?.connected) return;
				clearInterval(first);
				void checkSilence();
			}, 100).unref();
			this.alertTimers.push(first);
			const cutoff = () => new Date(Date.now() - ALERT_RECORD_RETENTION_MS).toISOString();
			every(
				3600e3,
				() => Promise.all([this.stores.alerts.removeBefore("claimedAt", cutoff()), this.stores.webhookDeliveries.removeBefore("claimedAt", cutoff())]),
				"Pruning alert records"
			);
		},

		stopped() {
			this.alertTimers.forEach(clearInterval);
		}
	};
	return schema as unknown as Partial<ServiceSchema>;
}
