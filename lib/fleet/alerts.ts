/**
 * The rules of alerts, as functions and constants: their ids, their channels, the claim that
 * makes each alert one event (and each webhook one POST) however often it is published or
 * redelivered, the webhook signature, and the tables they need. mixins/alerts.mixin.ts wires them
 * to the bus, the store and the metrics.
 */
import { createHmac } from "node:crypto";
import type { AlertType, CanAlert } from "../contracts";
import type { Columns, Store } from "../store";

/** The durable channel alerts are published on: consumer group "alerts" turns each into one event. */
export const ALERT_CHANNEL = "can-alerts";
/**
 * The durable channel of webhook deliveries (consumer group "webhooks"). Its own channel, not a
 * second group on ALERT_CHANNEL: @moleculer/channels names a consumer by node, service and channel,
 * so two groups of one service on one channel would share a JetStream deliver subject.
 */
export const WEBHOOK_CHANNEL = "can-alerts.webhooks";
/** Where an alert goes that the "alerts" group failed on CHANNEL_MAX_DELIVERIES times. */
export const ALERT_DEAD_LETTER_CHANNEL = "can-alerts.dead";

export const ALERT_TYPES: readonly AlertType[] = ["can.full", "can.emptied", "can.silent"];

/** The stable id of an alert: the same alert detected twice (or by two replicas) has the same id. */
/** `<type>:<canId>:<key>`: the key names the occurrence (`can.full`: the fill cycle's start; the others: their time). */
export const alertId = (type: AlertType, canId: string, key: string): string => `${type}:${canId}:${key}`;

/** `X-Signature-256` of a webhook body, as GitHub signs: `sha256=` and the hex HMAC-SHA256 of the raw body. */
export const signature = (secret: string, body: string | Buffer): string => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/**
 * What the alert channels carry: the alert and the id of this copy. Every `raiseAlerts` makes a
 * new copy; a redelivery of a copy keeps its id. The claim below tells the two apart.
 */
export interface AlertMessage {
	alert: CanAlert;
	copy: string;
}

/** An alert as events and webhooks carry it: a known type, and an id that names it. */
export function isAlert(alert: unknown): alert is CanAlert {
	const { id, type, canId, at } = (alert ?? {}) as Partial<CanAlert>;
	return (
		typeof id === "string" && ALERT_TYPES.includes(type!) && typeof canId === "string" && typeof at === "string" && id.startsWith(alertId(type!, canId, ""))
	);
}

export function isAlertMessage(msg: unknown): msg is AlertMessage {
	const { alert, copy } = (msg ?? {}) as Partial<AlertMessage>;
	return typeof copy === "string" && isAlert(alert);
}

/** A claim on doing something once: raising one alert's event (`alerts`) or POSTing it to one URL (`webhookDeliveries`). */
export interface ClaimDoc {
	_id: string;
	/** Always "yes": the compare-and-set field (written unless it is "yes" already). */
	claimed: string;
	/** The copy of the message whose handler does it. */
	copy: string;
	claimedAt: string;
	/** Set once it is done. */
	doneAt?: string;
}

export interface AlertDoc extends ClaimDoc {
	type: AlertType;
	canId: string;
	at: string;
}

export interface DeliveryDoc extends ClaimDoc {
	alertId: string;
	url: string;
}

export interface AlertStores {
	alerts: Store<AlertDoc>;
	webhookDeliveries: Store<DeliveryDoc>;
}

const claimColumns = (DataTypes: Parameters<Columns>[0]) => ({
	claimed: { type: DataTypes.STRING(3), allowNull: false },
	copy: { type: DataTypes.STRING(64), allowNull: false },
	claimedAt: { type: DataTypes.STRING(30), allowNull: false },
	doneAt: DataTypes.STRING(30)
});

/** The tables of `AlertStores` (SQL; NeDB ignores them). */
export const ALERT_TABLES: Record<keyof AlertStores, Columns> = {
	alerts: DataTypes => ({
		// <type>:<canId>:<at>, at most 12 + 64 + 30
		_id: { type: DataTypes.STRING(128), primaryKey: true },
		type: { type: DataTypes.STRING(16), allowNull: false },
		canId: { type: DataTypes.STRING(64), allowNull: false },
		at: { type: DataTypes.STRING(30), allowNull: false },
		...claimColumns(DataTypes)
	}),
	webhookDeliveries: DataTypes => ({
		// <alertId>|<url>: URLs have no length limit
		_id: { type: DataTypes.TEXT, primaryKey: true },
		alertId: { type: DataTypes.STRING(128), allowNull: false },
		url: { type: DataTypes.TEXT, allowNull: false },
		...claimColumns(DataTypes)
	})
};

export const deliveryId = (alertId: string, url: string): string => `${alertId}|${url}`;

/**
 * Who does a thing once, decided with one compare-and-set:
 *  - `mine`: this copy claimed it (now, or on an earlier delivery that did not finish): do it, then `done()`;
 *  - `done`: it was done;
 *  - `other`: another copy claimed it and has not finished. That copy's message stays unacked
 *    until it has, so if its consumer dies the bus redelivers it, and it finishes then: this
 *    copy has nothing to do.
 */
export type Claim = "mine" | "done" | "other";

type Claimable<D extends ClaimDoc> = Omit<D, keyof ClaimDoc> & { _id: string };

const claimed = <D extends ClaimDoc>(doc: Claimable<D>, copy: string, now: string) => ({ ...doc, claimed: "yes", copy, claimedAt: now }) as unknown as D;

export async function claim<D extends ClaimDoc>(store: Store<D>, doc: Claimable<D>, copy: string, now: string): Promise<Claim> {
	if ((await store.putManyUnless([claimed(doc, copy, now)], "claimed", "yes")).has(doc._id)) return "mine";
	const stored = await store.get(doc._id);
	if (!stored) throw new Error(`The claim of ${doc._id} vanished`);
	return stored.doneAt ? "done" : stored.copy === copy ? "mine" : "other";
}

/** Marks a claim of this copy done (the whole row: an upsert on SQL must satisfy NOT NULL even when it updates). */
export const markDone = <D extends ClaimDoc>(store: Store<D>, doc: Claimable<D>, copy: string, now: string): Promise<void> =>
	store.put({ ...claimed(doc, copy, now), doneAt: now });

/**
 * `can.silent` for every can whose last report is older than `silentAfterMs`: one per silence
 * (its id carries the last report's time, so a can that reports and falls silent again gets a new one).
 */
export function silentAlerts(
	levels: { _id: string; level: number; reportedAt: string }[],
	now: number,
	silentAfterMs: number,
	fullThreshold: number
): CanAlert[] {
	const cutoff = new Date(now - silentAfterMs).toISOString();
	return levels
		.filter(can => can.reportedAt < cutoff)
		.map(({ _id: canId, level, reportedAt: at }) => ({ id: alertId("can.silent", canId, at), type: "can.silent", canId, at, level, fullThreshold }));
}

/** How often the silence check runs: a quarter of `SILENT_AFTER`, at most a minute, at least a second. */
export const silenceCheckEvery = (silentAfterMs: number): number => Math.max(1_000, Math.min(silentAfterMs / 4, 60_000));

/** The alerts and webhook deliveries as Prometheus metrics. */
export const ALERT_METRICS = {
	alerts: "trash_alerts_total",
	deliveries: "trash_webhook_deliveries_total"
} as const;

export const DELIVERY_OUTCOMES = ["delivered", "failed"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** Records kept this long (by claim time): a can silent for longer raises `can.silent` again. */
export const ALERT_RECORD_RETENTION_MS = 30 * 86400e3;
