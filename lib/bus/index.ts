/**
 * The one place that turns a `TRANSPORTER` URL into the bus (STYLE.md rule 5): the broker's
 * transporter, the adapter of the durable `trash-level` channel and the discoverer, all three
 * new instances (each belongs to the one broker it is given to).
 *
 *   unset / null                        → no transporter (one process), in-memory channel
 *   nats://a:4222[,nats://b:4222]       → NATS, JetStream channel
 *   amqp://user:pass@host:5672[,…]      → AMQP, durable RabbitMQ queue
 */
import { Adapters } from "@moleculer/channels";
import { Context } from "moleculer";
import type { ServiceBroker, Transporters } from "moleculer";
import { maskUri } from "../config";
import { AmqpTransporter } from "./amqp-transporter";
import { LenientJSONSerializer } from "../ingest/parse";
import { AmqpChannelAdapter, NatsChannelAdapter } from "./channel-adapters";
import { LivenessDiscoverer } from "./discoverer";
import { CoalescingNatsTransporter } from "./nats-transporter";

export interface BusOptions {
	/** How long the bus keeps a report nobody consumed (`REPORT_RETENTION`). */
	retentionMs: number;
	/** JetStream replicas of the report stream on a NATS cluster (`STREAM_REPLICAS`). */
	streamReplicas: number;
}

export interface Bus {
	transporter: Transporters.Base | null;
	channelAdapter: object;
	discoverer: LivenessDiscoverer;
	/**
	 * Whether the bus balances calls itself (NATS queue groups, RabbitMQ work queues): it stops
	 * delivering to a killed node at once, where the broker's balancer would keep choosing it until
	 * the registry drops it. RabbitMQ also hands a dead node's unacknowledged requests to another.
	 */
	balancesCalls: boolean;
}

/**
 * A node not heard from for 1.5 s has left (beats every 0.5 s, checked every 0.25 s): a killed
 * replica leaves `GET /workers` within 2 s. Measured to drop no live node with both cores busy
 * (test/integration/failover.spec.ts).
 */
export const LIVENESS = { heartbeatMs: 500, timeoutMs: 1_500 };

/** Reports a consumer works on at once: enough to keep the store busy, bounded so a backlog stays on the bus. */
export const CHANNEL_IN_FLIGHT = 2_048;

/**
 * The `trash-level` group's unacked reports on NATS, every replica's together: JetStream counts
 * `max_ack_pending` per durable consumer, which the replicas share (RabbitMQ's prefetch,
 * CHANNEL_IN_FLIGHT, is per process). 1 024 made batches of 80–100 at 256 per consumer; 8 192
 * with 2 048 per consumer makes batches of up to 2 048 and costs 15–40 % less CPU per report
 * again (alternating `npm run bench -- --only ingest` runs, docs/benchmarks.md), for about 30 MB more
 * resident memory in a consumer working through a backlog (4 096 saved a lone consumer ~15 MB of
 * it and cost three consumers 5–15 % more CPU per report: smaller batches). A consumer killed -9
 * then leaves a few hundred reports of a small fleet's can to come back out of order (applyBatch
 * reads a can in one piece for them: test/integration/fleet-burst.spec.ts). A durable consumer
 * created before keeps its own limit.
 */
export const GROUP_IN_FLIGHT = 4 * CHANNEL_IN_FLIGHT;

const NATS_URL = /^nats:\/\/[^,\s]+(,nats:\/\/[^,\s]+)*$/;
const AMQP_URL = /^amqps?:\/\/\S+$/;

/**
 * Reconnect for ever, quickly: a killed server's clients move to the next URL of the cluster
 * within a fraction of a second instead of nats.js's 2 s default wait.
 */
const NATS_RECONNECT = { maxReconnectAttempts: -1, reconnectTimeWait: 250 };

export function createBus(url: string | null, { retentionMs, streamReplicas }: BusOptions): Bus {
	// Message bodies are JSON whatever the bus, so plain producers can publish reports.
	const channel = { maxInFlight: CHANNEL_IN_FLIGHT, serializer: new LenientJSONSerializer() };
	const discoverer = new LivenessDiscoverer(LIVENESS);
	if (!url) {
		const FakeAdapter = (Adapters as unknown as Record<string, new (opts: object) => object>).Fake;
		return { transporter: null, channelAdapter: new FakeAdapter({ ...channel, maxInFlight: 10 }), discoverer, balancesCalls: false };
	}
	if (NATS_URL.test(url)) {
		return {
			transporter: new CoalescingNatsTransporter({ url, ...NATS_RECONNECT, pingInterval: 5_000 }),
			channelAdapter: new NatsChannelAdapter({
				...channel,
				nats: {
					// The object form: the adapter's string form ignores the URL's host and port, and
					// keeps no credentials, so they are passed on here.
					url,
					connectionOptions: { ...NATS_RECONNECT, ...natsCredentials(url) },
					// JetStream counts in nanoseconds; limits apply when the stream is created. On a NATS
					// cluster, STREAM_REPLICAS=3 keeps the reports on three servers, so one may die.
					streamConfig: { max_age: retentionMs * 1_000_000, num_replicas: streamReplicas },
					// "all": a consumer created after reports were stored still gets them. A report held
					// by a consumer that died is redelivered after ack_wait: short, since a report takes
					// milliseconds (the handler extends it while it retries a failing store).
					consumerOptions: { config: { deliver_policy: "all", ack_wait: 5_000_000_000 } }
				}
			}),
			discoverer,
			balancesCalls: true
		};
	}
	if (AMQP_URL.test(url)) {
		const urls = url.split(/[,;]/).filter(Boolean);
		return {
			transporter: new AmqpTransporter({
				url: urls,
				// The defaults (prefetch 1, Nagle on) serialise request/reply traffic and stall on
				// delayed ACKs: 28 calls/s against 11 902 with both set (`npm run bench:amqp`).
				prefetch: 64,
				socketOptions: { noDelay: true },
				// queues of a node that vanished go away after 2 min, like the transporter's default
				autoDeleteQueues: 120_000
			} as object),
			channelAdapter: new AmqpChannelAdapter({
				...channel,
				amqp: {
					url: urls,
					socketOptions: { noDelay: true },
					// survive a RabbitMQ restart: durable exchange and queue, persistent messages
					exchangeOptions: { durable: true },
					queueOptions: { durable: true, arguments: { "x-message-ttl": retentionMs } },
					messageOptions: { persistent: true }
				}
			}),
			discoverer,
			balancesCalls: true
		};
	}
	throw new Error(`Unsupported TRANSPORTER "${maskUri(url)}": use nats://host:4222 (comma list for a cluster) or amqp://user:pass@host:5672`);
}

/** `nats://user:pass@host` → `{ user, pass }` (as the transporter reads them). */
function natsCredentials(url: string): { user?: string; pass?: string } {
	const first = new URL(url.split(",")[0]);
	return first.username ? { user: decodeURIComponent(first.username), pass: decodeURIComponent(first.password) } : {};
}

/** How long `flushed` waits for the bus before giving up. */
const FLUSH_TIMEOUT_MS = 5_000;

/**
 * Resolves once what this node has sent has reached the bus (NATS: a PING's PONG; AMQP: a round
 * trip on the publishing channel; embedded: at once). Rejects after FLUSH_TIMEOUT_MS (the bus is
 * away). For a step that must not be recorded before its message is out: a kill -9 drops what is
 * still queued in the process, and a reset socket what the kernel had not sent.
 */
export function flushed(broker: ServiceBroker): Promise<void> {
	const tx = (broker.transit as unknown as { tx?: { flush?: () => Promise<void> } } | undefined)?.tx;
	if (!tx?.flush) return Promise.resolve();
	return Promise.race([
		tx.flush(),
		new Promise<never>((_, reject) =>
			setTimeout(() => reject(new Error(`The bus did not take what was sent within ${FLUSH_TIMEOUT_MS} ms`)), FLUSH_TIMEOUT_MS).unref()
		)
	]);
}

/** How often a held message tells JetStream it is still being worked on (its ack_wait is 5 s, see createBus). */
export const WORKING_EVERY_MS = 1_000;

/**
 * Keeps JetStream from handing `raw` (a channel handler's message) to another consumer while its
 * handler holds it: says "working" now and every WORKING_EVERY_MS until the returned function is
 * called. A no-op on the other buses, which redeliver only when the consumer is gone.
 */
export function holdMessage(raw: unknown): () => void {
	const msg = raw as { working?: () => void } | null;
	if (typeof msg?.working !== "function") return () => undefined;
	msg.working();
	const beat = setInterval(() => msg.working?.(), WORKING_EVERY_MS).unref();
	return () => clearInterval(beat);
}

/** What a channel message's headers say about its sender (`sendToChannel` with a `ctx` writes them). */
type SenderHeaders = Partial<Record<"$requestID" | "$parentID" | "$tracing" | "$level" | "$caller" | "$meta" | "$headers", string>>;
interface HeaderReader {
	parseMessageHeaders(raw: unknown): SenderHeaders | null | undefined;
	serializer: { deserialize(data: Buffer): unknown };
}
const adapterOf = (broker: ServiceBroker) => (broker as unknown as { channelAdapter: HeaderReader }).channelAdapter;

/** The request id a channel message was sent with, if any (every adapter keeps its headers its own way). */
export const messageRequestID = (broker: ServiceBroker, raw: unknown): string | undefined =>
	adapterOf(broker).parseMessageHeaders(raw)?.$requestID ?? undefined;

/**
 * The Context @moleculer/channels makes for a `context: true` handler, from a message's headers
 * (the sender's request id, caller, meta), for a handler that needs one only now and then. A
 * Context made for every message and held with the thousands waiting for their batch cost a
 * trashReport consumer about 8 % of its CPU, most of it in garbage collection (docs/benchmarks.md).
 */
export function senderContext(broker: ServiceBroker, raw: unknown, params: unknown): Context {
	const adapter = adapterOf(broker);
	const headers = adapter.parseMessageHeaders(raw) ?? {};
	const decode = (text: string | undefined) => (text ? adapter.serializer.deserialize(Buffer.from(text, "base64")) : undefined);
	const parentCtx = headers.$requestID
		? { id: headers.$parentID, requestID: headers.$requestID, tracing: headers.$tracing === "true", level: headers.$level ? parseInt(headers.$level) : 0 }
		: undefined;
	return Context.create(broker, null as never, params as object, {
		parentCtx: parentCtx as never,
		caller: parentCtx ? headers.$caller : undefined,
		meta: decode(headers.$meta) as object | undefined,
		headers: decode(headers.$headers) as object | undefined
	});
}
