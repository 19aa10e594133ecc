/**
 * Alerts and webhooks on every deployment: embedded (one process, NeDB), and two trashReport
 * processes on NATS JetStream and on RabbitMQ with PostgreSQL. An alert published many times, by
 * several replicas, is one event; a silent can raises `can.silent` once per silence; a real HTTP
 * receiver gets every alert signed, also after it was down for a while. `DEPLOYMENTS=nats` narrows it.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Context, ServiceBroker } from "moleculer";
import { startDeployment } from "../../harness/deployment";
import type { Deployment, DeploymentKind } from "../../harness/deployment";
import { eventually, startSystem } from "../../harness/system";
import type { AlertType, CanAlert } from "../../lib/contracts";
import { ALERT_CHANNEL, ALERT_METRICS, alertId, WEBHOOK_CHANNEL } from "../../lib/fleet/alerts";
import { listenerKnown } from "../support/events";

const DEPLOYMENTS = (process.env.DEPLOYMENTS ?? "embedded,nats,amqp").split(",") as DeploymentKind[];
/** How long the webhook receiver is down (503s, then refused connections); WEBHOOK_OUTAGE_S=600 for the 10 minutes. */
const OUTAGE_MS = Number(process.env.WEBHOOK_OUTAGE_S ?? 10) * 1_000;
const SECRET = "webhook-test-secret";
const SILENT_AFTER_MS = 2_000;

/** A webhook receiver on a real port: answers 204, or 503 while `unavailable`, or refuses connections while closed. */
class Receiver {
	unavailable = false;
	readonly requests: { id: string; status: number; body: string; headers: http.IncomingHttpHeaders }[] = [];
	private readonly server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", chunk => chunks.push(chunk));
		req.on("end", () => {
			const status = this.unavailable ? 503 : 204;
			this.requests.push({ id: String(req.headers["x-alert-id"]), status, body: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
			res.writeHead(status).end();
		});
	});
	port = 0;

	async listen(): Promise<void> {
		await new Promise<void>(resolve => this.server.listen(this.port, "127.0.0.1", resolve));
		this.port = (this.server.address() as AddressInfo).port;
	}

	async close(): Promise<void> {
		const closed = new Promise(resolve => this.server.close(resolve));
		this.server.closeAllConnections();
		await closed;
	}

	get url() {
		return `http://127.0.0.1:${this.port}/hooks/alerts`;
	}

	/** The requests for `id` the receiver accepted (2xx). */
	accepted(id: string) {
		return this.requests.filter(r => r.id === id && r.status === 204);
	}
}

/** What a receiver does with `X-Signature-256`: HMAC-SHA256 of the raw body, compared in constant time. */
function signatureValid(body: string, header: string | string[] | undefined): boolean {
	const expected = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`);
	const given = Buffer.from(String(header ?? ""));
	return given.length === expected.length && timingSafeEqual(given, expected);
}

const alert = (type: AlertType, canId: string, at = new Date().toISOString(), level = 85): CanAlert => ({
	id: alertId(type, canId, at),
	type,
	canId,
	at,
	level,
	fullThreshold: 80
});

/** What `raiseAlerts` publishes: each call a new copy of the alert, on the webhook channel and the alert channel. */
async function publishCopy(broker: ServiceBroker, a: CanAlert): Promise<void> {
	const msg = { alert: a, copy: randomUUID() };
	await broker.sendToChannel(WEBHOOK_CHANNEL, msg);
	await broker.sendToChannel(ALERT_CHANNEL, msg);
}

const settle = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describe.each(DEPLOYMENTS)("on %s", kind => {
	const receiver = new Receiver();
	const events: CanAlert[] = [];
	let broker: ServiceBroker;
	let stop: () => Promise<void>;
	let remote: Deployment | undefined;
	const eventsFor = (id: string) => events.filter(e => e.id === id);

	beforeAll(async () => {
		await receiver.listen();
		const settings = { silentAfterMs: SILENT_AFTER_MS, webhookUrls: [receiver.url], webhookSecret: SECRET };
		if (kind === "embedded") {
			const sys = await startSystem(["trashReport"], { metrics: { enabled: true } }, { trashReport: settings });
			({ broker, stop } = sys);
		} else {
			const sys = await startDeployment(kind, {
				layout: [
					["gateway", ["rest", "systemManager", "pilot", "db"]],
					["trashReport-1", ["trashReport"]],
					["trashReport-2", ["trashReport"]]
				],
				env: { SILENT_AFTER: `${SILENT_AFTER_MS}ms`, WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: SECRET }
			});
			({ broker, stop } = sys);
			remote = sys;
		}
		// a listener as any service would be
		broker.createService({
			name: "alertListener",
			events: Object.fromEntries(
				(["can.full", "can.emptied", "can.silent"] as const).map(type => [type, (ctx: Context<CanAlert>) => void events.push(ctx.params)])
			)
		});
		await broker.waitForServices("alertListener");
		const nodes = broker.registry.getServiceList({ onlyAvailable: true }).filter((s: { name: string }) => s.name === "trashReport");
		expect(nodes.length).toBe(kind === "embedded" ? 1 : 2);
		// every trashReport knows the listener before it broadcasts (remote nodes learn it by discovery)
		if (remote) await listenerKnown(remote, "can.full");
	}, 120_000);
	afterAll(async () => {
		await stop?.();
		await receiver.close();
	});

	it("turns an alert published three times (consumed by every replica) into exactly one can.full event", async () => {
		const full = alert("can.full", `full-${kind}`);
		for (let i = 0; i < 3; i++) await publishCopy(broker, full);
		await eventually(() => eventsFor(full.id).length > 0, 10_000);
		// the other copies are consumed within this (a duplicate would show up here)
		await settle(2_000);
		expect(eventsFor(full.id)).toEqual([full]);
		if (kind === "embedded") {
			const raised = broker.metrics.getMetric(ALERT_METRICS.alerts)!.get({ type: "can.full" })!.value;
			expect(raised).toBe(1);
		}
	});

	it("POSTs each alert once to the webhook, signed with the secret, with its id in X-Alert-Id", async () => {
		const emptied = alert("can.emptied", `emptied-${kind}`, new Date().toISOString(), 3);
		for (let i = 0; i < 3; i++) await publishCopy(broker, emptied);
		await eventually(() => receiver.accepted(emptied.id).length > 0, 10_000);
		await settle(2_000);
		const [delivery, ...again] = receiver.accepted(emptied.id);
		expect(again).toEqual([]);
		expect(JSON.parse(delivery.body)).toEqual(emptied);
		expect(delivery.headers["content-type"]).toBe("application/json");
		expect(signatureValid(delivery.body, delivery.headers["x-signature-256"])).toBe(true);
		// a signature over another body, or with another secret, does not pass
		expect(signatureValid(delivery.body.replace("emptied-", "Emptied-"), delivery.headers["x-signature-256"])).toBe(false);
	});

	it("raises can.silent once for a can whose last report is older than SILENT_AFTER, and again after it reported and fell silent again", async () => {
		const canId = `quiet-${kind}`;
		await broker.call("trashReport.putCan", { canId, fullThreshold: 65 });
		const first = new Date(Date.now() - 60_000).toISOString();
		await broker.sendToChannel("trash-level", { id: randomUUID(), can_id: canId, level: "41", reportedAt: first });
		const firstId = alertId("can.silent", canId, first);
		await eventually(() => eventsFor(firstId).length > 0, 15_000);
		// with the can's own threshold
		expect(eventsFor(firstId)[0]).toMatchObject({ type: "can.silent", canId, at: first, level: 41, fullThreshold: 65 });
		// every replica checks every 0.5 s (SILENT_AFTER / 4): many raises, one event
		await settle(3 * SILENT_AFTER_MS);
		expect(eventsFor(firstId)).toHaveLength(1);

		const second = new Date().toISOString();
		await broker.sendToChannel("trash-level", { id: randomUUID(), can_id: canId, level: "42", reportedAt: second });
		const secondId = alertId("can.silent", canId, second);
		await eventually(() => eventsFor(secondId).length > 0, 15_000);
		await settle(SILENT_AFTER_MS);
		expect(eventsFor(secondId)).toHaveLength(1);
		expect(eventsFor(firstId)).toHaveLength(1);
		// the webhook got both silences too
		await eventually(() => receiver.accepted(firstId).length > 0 && receiver.accepted(secondId).length > 0, 10_000);
	}, 40_000);

	it(
		`delivers every alert to a receiver that answered 503 and then refused connections, ${OUTAGE_MS / 1_000} s in all, once it is back`,
		async () => {
			receiver.unavailable = true;
			const alerts = [1, 2, 3].map(n => alert("can.full", `outage-${kind}-${n}`));
			for (const a of alerts) await publishCopy(broker, a);
			// the receiver is asked and refuses
			await eventually(() => alerts.every(a => receiver.requests.some(r => r.id === a.id && r.status === 503)), 10_000);
			const downSince = Date.now();
			await settle(4_000);
			await receiver.close();
			await settle(OUTAGE_MS - (Date.now() - downSince));
			expect(alerts.flatMap(a => receiver.accepted(a.id))).toEqual([]);
			receiver.unavailable = false;
			await receiver.listen();
			// backoff tops out at 30 s (±20 %): the next try comes within 36 s
			await eventually(() => alerts.every(a => receiver.accepted(a.id).length > 0), 40_000, 100);
			await settle(1_000);
			for (const a of alerts) {
				// once: the retries were of the one delivery, not copies of it
				const [delivery, ...again] = receiver.accepted(a.id);
				expect(again).toEqual([]);
				expect(JSON.parse(delivery.body)).toEqual(a);
				expect(signatureValid(delivery.body, delivery.headers["x-signature-256"])).toBe(true);
			}
			// and the events were not held up by the webhook
			for (const a of alerts) expect(eventsFor(a.id)).toHaveLength(1);
			if (kind === "embedded") {
				const deliveries = broker.metrics.getMetric(ALERT_METRICS.deliveries)!;
				expect(deliveries.get({ outcome: "failed" })!.value).toBeGreaterThanOrEqual(alerts.length * 2);
				expect(deliveries.get({ outcome: "delivered" })!.value).toBeGreaterThanOrEqual(alerts.length);
			}
		},
		70_000 + OUTAGE_MS
	);
});
