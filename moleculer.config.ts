import type { BrokerOptions, Errors } from "moleculer";
import { Middleware as ChannelsMiddleware } from "@moleculer/channels";
import { createBus } from "./lib/bus";
import { config } from "./lib/config";
import { useLeanMetricTypes } from "./lib/metrics";
import { RETRIES } from "./lib/retry";
import { GracefulHttpMiddleware } from "./middlewares/graceful-http.middleware";
import { JobMetricsMiddleware } from "./middlewares/job-metrics.middleware";
import { AlertOnceMiddleware } from "./middlewares/alert-once.middleware";
import { BusBalancingMiddleware } from "./middlewares/bus-balancing.middleware";
import { logFormatter, RequestIdMiddleware } from "./middlewares/request-id.middleware";
import { internalMiddlewares } from "./middlewares/moleculer-internals";
import { RequestMetricsMiddleware } from "./middlewares/request-metrics.middleware";
import { RequestTimeoutMiddleware } from "./middlewares/request-timeout.middleware";

/** 5xx error types that say a shared dependency is away, not that the endpoint failed (circuitBreaker). */
const NOT_AN_ENDPOINT_FAILURE = new Set(["NOT_READY", "STORE_UNAVAILABLE", "BUS_UNAVAILABLE"]);

/**
 * Broker options. Every value that differs from Moleculer's default was chosen on purpose;
 * the comment beside it says why. Env vars (see lib/config.ts) override them.
 */
const options: BrokerOptions = {
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

	serializer: config.serializer as never,

	// Moleculer's default is 0 (wait forever): a call whose reply is lost (e.g. the bus died
	// mid-request) would hang its HTTP client for good. 10 s bounds every call.
	requestTimeout: config.requestTimeoutMs,

	// Retry only errors Moleculer marks retryable (timeouts, node gone),
	// with backoff, so a replica dying mid-request is absorbed by the others.
	retryPolicy: {
		enabled: true,
		...RETRIES.call,
		// No endpoint at all (SERVICE_NOT_FOUND, SERVICE_NOT_AVAILABLE: here or on the node asked)
		// fails at once: the gateway answers 503 instead of stalling the client for the whole
		// backoff. A node lost mid-call (timeout, disconnected) is still retried elsewhere.
		check: (err: Error) => {
			const { retryable, type } = err as Errors.MoleculerRetryableError;
			return retryable === true && type !== "SERVICE_NOT_FOUND" && type !== "SERVICE_NOT_AVAILABLE";
		}
	},

	// Open the circuit to an endpoint that fails half of ≥ 20 calls in 30 s; 5xx-type failures
	// only, so a stream of 4xx from bad clients never takes a healthy endpoint out.
	circuitBreaker: {
		enabled: true,
		threshold: 0.5,
		minRequestCount: 20,
		windowTime: 30,
		halfOpenTime: 5_000,
		// Not an endpoint's failure, so not counted: a readiness answer of "not ready" (it would
		// open the circuit of the gateway's own health action while a dependency starts), and a
		// store or bus that does not answer, which every replica shares. Counting those turned a
		// PostgreSQL outage's 503 STORE_UNAVAILABLE into SERVICE_NOT_AVAILABLE after 20 calls, and
		// kept the services out for up to halfOpenTime once it was back (health.spec.ts).
		check: (err: Error) => {
			const { code, type } = err as Errors.MoleculerError;
			return (code == null || code >= 500) && !NOT_AN_ENDPOINT_FAILURE.has(type);
		}
	},

	// Heartbeats: the bus's discoverer (lib/bus, LIVENESS) beats every 0.5 s and drops a node
	// silent for 1.5 s, in milliseconds rather than these whole seconds.

	// Used where the bus does not balance calls itself (the embedded default has nothing to balance).
	registry: {
		strategy: "RoundRobin",
		preferLocal: true
	},

	// Track in-flight contexts so broker.stop() (SIGTERM) waits for them before closing.
	tracking: {
		enabled: true,
		shutdownTimeout: 8_000
	},

	// Answers of actions that declare `cache` (moleculer-db's find, count, list, get) are kept per
	// node until their service changes an entity (moleculer-db clears its keys and broadcasts
	// `cache.clean.<service>`, see mixins/db.mixin.ts) or for 60 s; at most 1 000 answers.
	cacher: { type: "MemoryLRU", options: { max: 1_000, ttl: 60 } },

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

	replOptions: { delimiter: "trash-bus $ " },

	// Moleculer's own middlewares are listed below, in its order, so that two of them can be
	// cheaper ones of ours with the same behaviour (middlewares/moleculer-internals.ts)
	internalMiddlewares: false
};

/**
 * The broker options for the bus at `transporterUrl` (`TRANSPORTER` by default; unset = every
 * service in one process with no bus at all). A function, so every broker gets instances of its
 * own (transporter, channel adapter, discoverer and the middlewares' per-broker state);
 * moleculer-runner calls it with no argument.
 */
export default function brokerOptions(transporterUrl: string | null = config.transporter): BrokerOptions {
	// Moleculer's metric types, cheaper per observation (see lib/metrics.ts)
	useLeanMetricTypes();
	const bus = createBus(transporterUrl, { retentionMs: config.reportRetentionMs, streamReplicas: config.streamReplicas });
	return {
		...options,
		transporter: bus.transporter,
		// A killed replica gets no new call from the moment its connection closes (see Bus.balancesCalls).
		disableBalancer: bus.balancesCalls,
		registry: { ...options.registry, discoverer: bus.discoverer as never },
		middlewares: [
			BusBalancingMiddleware(),
			RequestIdMiddleware,
			JobMetricsMiddleware(),
			GracefulHttpMiddleware(),
			AlertOnceMiddleware(),
			ChannelsMiddleware({ adapter: bus.channelAdapter } as never),
			// Moleculer's, but two: every action call and event goes through them, an HTTP request
			// two or three times (issue #21); ours keep their behaviour and metrics, cheaper per call
			...internalMiddlewares({ Metrics: RequestMetricsMiddleware, Timeout: RequestTimeoutMiddleware })
		]
	};
}
