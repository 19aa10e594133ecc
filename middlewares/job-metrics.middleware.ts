import type { ActionSchema, Context, EventSchema, MetricTypes, Middleware, Service, ServiceBroker } from "moleculer";
import { JOB_ERROR_TYPES } from "../lib/contracts";
import { currentJobService } from "./request-id.middleware";

/**
 * The older bus-based system's metrics, under its names, so its dashboards keep working:
 *   microservices_messages_received_total{service,type}  what a service was sent: a request
 *       (action call, an HTTP request at the gateway too), an event, or a report (channel message)
 *   microservices_messages_sent_total{service,type}      what a service sent (same types)
 *   microservices_job_errors_total{service,error_type}   jobs that failed, by Moleculer error type
 *   microservices_job_processing_seconds{service,job_type} how long a job took (job_type: the
 *       action, event or channel name)
 * The broker's own moleculer_* metrics stay as they are; these are derived from the same calls.
 */
export const JOB_METRICS = {
	received: "microservices_messages_received_total",
	sent: "microservices_messages_sent_total",
	errors: "microservices_job_errors_total",
	seconds: "microservices_job_processing_seconds"
} as const;

export const MESSAGE_TYPES = ["request", "event", "report"] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
type Handler = (...args: unknown[]) => Promise<unknown>;

// Internal services ($node, $channel…) and events ($node.connected…) are the framework's, not jobs.
const internal = (name: unknown) => typeof name !== "string" || name.startsWith("$");

/** Who sent a message: the service of the ctx it was sent with, else the job running, else the broker. */
const senderOf = (opts: { parentCtx?: Context; ctx?: Context } | undefined) => (opts?.parentCtx ?? opts?.ctx)?.service?.name ?? currentJobService() ?? "broker";

export function JobMetricsMiddleware(): Middleware {
	let broker: ServiceBroker;
	let enabled = false;

	/** Wraps a job handler: counts it in, times it, counts its failure. */
	function job(service: string | undefined, type: MessageType, jobType: string, next: Handler): Handler {
		if (!enabled || internal(service)) return next;
		// looked up once: these run on every call
		const received = broker.metrics.getMetric(JOB_METRICS.received) as MetricTypes.Counter;
		const seconds = broker.metrics.getMetric(JOB_METRICS.seconds) as MetricTypes.Histogram;
		const errors = broker.metrics.getMetric(JOB_METRICS.errors) as MetricTypes.Counter;
		const receivedLabels = Object.freeze({ service, type });
		const jobLabels = Object.freeze({ service, job_type: jobType });
		return (...args) => {
			received.increment(receivedLabels);
			const started = performance.now();
			let running: Promise<unknown>;
			try {
				running = next(...args);
			} catch (err) {
				running = Promise.reject(err);
			}
			return running.then(
				res => {
					seconds.observe((performance.now() - started) / 1e3, jobLabels);
					return res;
				},
				err => {
					const e = err as { type?: string; name?: string } | null;
					errors.increment({ service, error_type: e?.type || e?.name || "Error" });
					seconds.observe((performance.now() - started) / 1e3, jobLabels);
					throw err;
				}
			);
		};
	}

	/** The label objects of what a service sends, made once per service and type. */
	const sentLabels = new Map<string, Record<MessageType, { service: string; type: MessageType }>>();
	const sentBy = (service: string, type: MessageType) => {
		let labels = sentLabels.get(service);
		if (!labels) {
			const of = (t: MessageType) => Object.freeze({ service, type: t });
			sentLabels.set(service, (labels = { request: of("request"), event: of("event"), report: of("report") }));
		}
		return labels[type];
	};

	/**
	 * Wraps a sending broker method (`call(name, params, opts)`, `emit`, `broadcast`, `sendToChannel`):
	 * counts what left, by the service that sent it. The broker wraps these before `created`
	 * runs, so whether metrics are on is looked up per call.
	 */
	function sending(type: MessageType, next: Handler): Handler {
		return (...args) => {
			// `call` also takes an action object (moleculer-web passes one): named by its `name`
			const target = typeof args[0] === "string" ? args[0] : (args[0] as { name?: string } | null)?.name;
			if (enabled && !internal(target)) broker.metrics.increment(JOB_METRICS.sent, sentBy(senderOf(args[2] as never), type));
			return next(...args);
		};
	}

	return {
		name: "JobMetrics",

		created(this: unknown, b: ServiceBroker) {
			broker = b;
			enabled = b.isMetricsEnabled();
			if (!enabled) return;
			const m = b.metrics;
			m.register({
				type: "counter",
				name: JOB_METRICS.received,
				labelNames: ["service", "type"],
				description: "Messages received by a service (request, event, report)"
			});
			m.register({
				type: "counter",
				name: JOB_METRICS.sent,
				labelNames: ["service", "type"],
				description: "Messages sent by a service (request, event, report)"
			});
			m.register({ type: "counter", name: JOB_METRICS.errors, labelNames: ["service", "error_type"], description: "Jobs that failed, by error type" });
			m.register({
				type: "histogram",
				name: JOB_METRICS.seconds,
				labelNames: ["service", "job_type"],
				description: "Job processing time in seconds",
				buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
				// Moleculer's Prometheus reporter writes _sum and _count only with quantiles on
				quantiles: true
			});
			// what is sent outside any job (no ctx, no running handler) counts as the broker's
			for (const type of MESSAGE_TYPES) m.increment(JOB_METRICS.sent, { service: "broker", type }, 0);
			// The jobs are wrapped outside Moleculer's own middlewares, which a middleware of the options
			// is not (those run inside them): a request answered from the cache, or refused by the
			// validator, still reached the service and counts as received. Added here, after them.
			b.middlewares.add({
				name: "JobMetrics.jobs",
				localAction: (next: Handler, action: ActionSchema & { service?: { name: string }; rawName?: string }) =>
					job(action.service?.name, "request", action.rawName ?? String(action.name), next),
				localEvent: (next: Handler, event: EventSchema & { service?: { name: string } }) =>
					internal(event.name) ? next : job(event.service?.name, "event", String(event.name), next),
				// @moleculer/channels: the consumer group is the service's name unless a channel says otherwise
				localChannel: (next: Handler, chan: { group?: string; name: string }) => job(chan.group, "report", chan.name, next)
			} as unknown as Middleware);
		},

		/**
		 * Every series a service's jobs can move starts at 0, so Prometheus sees 0 rather than
		 * "no data" before the first message or failure (and `increase()` sees the first one).
		 */
		serviceCreated(service: Service) {
			if (!enabled || internal(service.name)) return;
			const m = broker.metrics;
			for (const type of MESSAGE_TYPES) {
				m.increment(JOB_METRICS.received, { service: service.name, type }, 0);
				m.increment(JOB_METRICS.sent, { service: service.name, type }, 0);
			}
			for (const error_type of Object.keys(JOB_ERROR_TYPES)) m.increment(JOB_METRICS.errors, { service: service.name, error_type }, 0);
		},

		call: (next: Handler) => sending("request", next),
		emit: (next: Handler) => sending("event", next),
		broadcast: (next: Handler) => sending("event", next),
		sendToChannel: (next: Handler) => sending("report", next)
	} as unknown as Middleware;
}
