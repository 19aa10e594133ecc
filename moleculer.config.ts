import type { BrokerOptions, Errors } from "moleculer";
import { Middleware as ChannelsMiddleware } from "@moleculer/channels";
import { AmqpChannelAdapter, LenientJSONSerializer, NatsChannelAdapter } from "./lib/channel-adapters";
import { config, maskUri } from "./lib/config";
import "./lib/discoverer";
import { AmqpTransporter } from "./lib/amqp-transporter";
import { CoalescingNatsTransporter } from "./lib/nats-transporter";
import { GracefulHttpMiddleware } from "./middlewares/graceful-http.middleware";
import { JobMetricsMiddleware } from "./middlewares/job-metrics.middleware";
import { logFormatter, RequestIdMiddleware } from "./middlewares/request-id.middleware";

/**
 * The one place that turns `TRANSPORTER` into a transport (STYLE.md rule 5):
 * unset → none (one process); `nats://a:4222[,nats://b:4222]`; `amqp://user:pass@host:5672[,…]`.
 * Each call makes a new transporter: an instance belongs to the one broker it is given to.
 */
export function transporterFor(url: string | null): BrokerOptions["transporter"] {
	if (!url) return null;
	if (/^nats:\/\/[^,\s]+(,nats:\/\/[^,\s]+)*$/.test(url)) {
		// One socket write per event-loop turn instead of one per packet (lib/nats-transporter.ts).
		return new CoalescingNatsTransporter({
			url,
			// Reconnect for ever, quickly: a killed server's clients move to the next URL of the
			// cluster within a fraction of a second instead of nats.js's 2 s default wait.
			maxReconnectAttempts: -1,
			reconnectTimeWait: 250,
			pingInterval: 5_000
		});
	}
	if (/^amqps?:\/\/\S+$/.test(url)) {
		// send() fails through its promise, never by a throw (lib/amqp-transporter.ts)
		return new AmqpTransporter({
			url: url.split(/[,;]/).filter(Boolean),
			// The defaults (prefetch 1, Nagle on) serialise request/reply traffic and stall on
			// delayed ACKs. Measured by `npm run bench:amqp` (2 nodes, 16 concurrent calls):
			// defaults 28 calls/s (p99 705 ms); prefetch 64 alone 7 970; noDelay alone 3 196;
			// both 11 902 calls/s (p99 3.6 ms). NATS on the same box: 27 451.
			prefetch: 64,
			socketOptions: { noDelay: true },
			// queues of a node that vanished go away after 2 min, like the transporter's default
			autoDeleteQueues: 120_000
		} as object);
	}
	throw new Error(`Unsupported TRANSPORTER "${maskUri(url)}": use nats://host:4222 (comma list for a cluster) or amqp://user:pass@host:5672`);
}

/** `nats://user:pass@host` → `{ user, pass }` (as the transporter reads them). */
function natsCredentials(url: string): { user?: string; pass?: string } {
	const first = new URL(url.split(",")[0]);
	return first.username ? { user: decodeURIComponent(first.username), pass: decodeURIComponent(first.password) } : {};
}

/** Reports a consumer works on at once: enough to keep the store busy, bounded so a backlog stays on the bus. */
export const CHANNEL_IN_FLIGHT = 256;

/**
 * The `trash-level` channel's adapter, following the transporter: durable on a real bus
 * (JetStream stream / durable RabbitMQ queue, explicit acks, kept `REPORT_RETENTION`),
 * in memory on the embedded default. Message bodies are JSON, so plain producers can publish.
 */
export function channelsMiddleware(url = config.transporter, retentionMs = config.reportRetentionMs) {
	const common = { maxInFlight: CHANNEL_IN_FLIGHT, serializer: new LenientJSONSerializer() };
	let adapter: unknown;
	if (!url) adapter = { type: "Fake", options: { ...common, maxInFlight: 10 } };
	else if (url.startsWith("nats://")) {
		adapter = new NatsChannelAdapter({
			...common,
			nats: {
				// The object form: the adapter's string form ignores the URL's host and port.
				url,
				// the adapter keeps only host:port of the URL, so credentials are passed on here
				connectionOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 250, ...natsCredentials(url) },
				// JetStream counts in nanoseconds; limits apply when the stream is created. On a NATS
				// cluster, STREAM_REPLICAS=3 keeps the reports on three servers, so one may die.
				streamConfig: { max_age: retentionMs * 1_000_000, num_replicas: config.streamReplicas },
				// "all": a consumer created after reports were stored still gets them. A report held
				// by a consumer that died is redelivered after ack_wait: short, since a report takes
				// milliseconds (the handler extends it while it retries a failing store).
				consumerOptions: { config: { deliver_policy: "all", ack_wait: 5_000_000_000 } }
			}
		});
	} else {
		adapter = new AmqpChannelAdapter({
			...common,
			amqp: {
				url: url.split(/[,;]/).filter(Boolean),
				socketOptions: { noDelay: true },
				// survive a RabbitMQ restart: durable exchange and queue, persistent messages
				exchangeOptions: { durable: true },
				queueOptions: { durable: true, arguments: { "x-message-ttl": retentionMs } },
				messageOptions: { persistent: true }
			}
		});
	}
	return ChannelsMiddleware({ adapter } as Parameters<typeof ChannelsMiddleware>[0]);
}

/**
 * The broker's middlewares. Some hold per-broker state (the channel adapter, the metric
 * handles), so lib/broker.ts makes a fresh list for every broker it creates.
 */
export function brokerMiddlewares(transporter = config.transporter): NonNullable<BrokerOptions["middlewares"]> {
	return [RequestIdMiddleware, JobMetricsMiddleware(), GracefulHttpMiddleware(), channelsMiddleware(transporter)];
}

/**
 * Broker options. Every value that differs from Moleculer's default was chosen on purpose;
 * the comment beside it says why. Env vars (see lib/config.ts) override them.
 */
const brokerConfig: BrokerOptions = {
	namespace: config.namespace,
	nodeID: config.nodeID,

	logger: {
		type: "Console",
		options: {
			level: config.logLevel as never,
			// Moleculer's "short" or "json" line, with the request id a line was written for
			formatter: logFormatter(config.logFormat === "json") as never,
			colors: config.logFormat !== "json" && process.stdout.isTTY === true
		}
	},

	// Unset = every service in one process with no bus at all (the embedded default).
	transporter: transporterFor(config.transporter),
	serializer: config.serializer as never,

	// Moleculer's default is 0 (wait forever): a call whose reply is lost (e.g. the bus died
	// mid-request) would hang its HTTP client for good. 10 s bounds every call.
	requestTimeout: config.requestTimeoutMs,

	// Retry only errors Moleculer marks retryable (timeouts, node gone, not yet available),
	// with backoff, so a replica dying mid-request is absorbed by the others.
	retryPolicy: {
		enabled: true,
		retries: 3,
		delay: 100,
		maxDelay: 1000,
		factor: 2,
		// No endpoint at all (SERVICE_NOT_FOUND) fails at once: the gateway answers 503 instead of
		// stalling the client for the whole backoff. A node lost mid-call is still retried elsewhere.
		check: (err: Error) => (err as Errors.MoleculerRetryableError).retryable === true && (err as Errors.MoleculerError).type !== "SERVICE_NOT_FOUND"
	},

	// Open the circuit to an endpoint that fails half of ≥ 20 calls in 30 s; 5xx-type failures
	// only, so a stream of 4xx from bad clients never takes a healthy endpoint out.
	circuitBreaker: {
		enabled: true,
		threshold: 0.5,
		minRequestCount: 20,
		windowTime: 30,
		halfOpenTime: 5_000,
		// A readiness answer of "not ready" (503) is a report, not a failing endpoint: counting it
		// would open the circuit of the gateway's own health action while a dependency starts.
		check: (err: Error) => {
			const { code, type } = err as Errors.MoleculerError;
			return (code == null || code >= 500) && type !== "NOT_READY";
		}
	},

	// A dead node (kill -9, no goodbye packet) leaves the registry after 3 missed beats; the
	// check runs every heartbeatTimeout, so it is gone within 6–12 s. Calls sent to it meanwhile
	// time out (pilot → db: 3 s) and are retried on a live replica.
	heartbeatInterval: 2,
	heartbeatTimeout: 6,

	registry: {
		strategy: "RoundRobin",
		preferLocal: true,
		// Moleculer's local discoverer, minus dropping nodes for heartbeats lost while the bus was down
		discoverer: "OutageTolerant" as never
	},

	// Track in-flight contexts so broker.stop() (SIGTERM) waits for them before closing.
	tracking: {
		enabled: true,
		shutdownTimeout: 8_000
	},

	// fastest-validator on every action's `params`; a 422 lists every failing field.
	validator: true,

	metrics: {
		enabled: config.metrics,
		reporter: [{ type: "Prometheus", options: { port: config.metricsPort, path: "/metrics" } }]
	},

	tracing: {
		enabled: config.tracing,
		exporter: [{ type: "Console" }]
	},

	// The in-memory channel adapter queues messages in the event bulkhead, whose default
	// maxQueueSize of 100 silently drops the rest of a burst. 0 = unbounded: the queue is
	// bounded by what the producer sends. Bulkheads stay off for actions and events.
	bulkhead: { enabled: false, concurrency: 10, maxQueueSize: 0 },

	middlewares: brokerMiddlewares(),

	replOptions: { delimiter: "trash-bus $ " }
};

export default brokerConfig;
