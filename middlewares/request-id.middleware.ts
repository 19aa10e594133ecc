import { AsyncLocalStorage } from "node:async_hooks";
import type { ActionSchema, Context, EventSchema, Middleware, ServiceBroker } from "moleculer";
import { messageRequestID } from "../lib/bus";

/**
 * What this async chain is working for: the request id (Moleculer already carries `ctx.requestID`
 * across calls, events and nodes, and moleculer-web takes it from `X-Request-ID` and answers it
 * back; this makes it visible to log lines, which have no ctx) and the service whose job is
 * running (what it sends is counted as its own, JobMetricsMiddleware). One store for both: each
 * `run` copies the async context, and every action and event handler enters one.
 */
interface JobScope {
	requestID: string | undefined;
	service: string | undefined;
}
const scopes = new AsyncLocalStorage<JobScope>();

export const currentRequestID = (): string | undefined => scopes.getStore()?.requestID;
/** The service whose action, event or channel handler this async chain runs in, if any. */
export const currentJobService = (): string | undefined => scopes.getStore()?.service;

type Handler = (...args: unknown[]) => Promise<unknown>;
/** `$node` and the other internal services are the framework's: their handlers keep the job they run for. */
const jobOf = (service: string | undefined) => (service?.startsWith("$") ? undefined : service);

/** `next` inside its job's scope, with the request id `requestOf` its arguments. */
const within = (service: string | undefined, next: Handler, requestOf: (args: unknown[]) => string | undefined): Handler => {
	const job = jobOf(service);
	return (...args) => scopes.run({ requestID: requestOf(args), service: job ?? scopes.getStore()?.service }, next, ...args);
};
const ofCtx = (args: unknown[]) => (args[0] as Context | null)?.requestID ?? undefined;

/**
 * Runs every local action, event handler and channel handler inside its job's scope: its
 * service (a channel's consumer group) and its request id (channels with `context: true` get
 * the sender's ctx, request id included; others, the message's payload and the message, whose
 * headers carry it).
 */
export const RequestIdMiddleware = {
	name: "RequestId",
	localAction: (next: Handler, action: ActionSchema & { service?: { name: string } }) => within(action.service?.name, next, ofCtx),
	localEvent: (next: Handler, event: EventSchema & { service?: { name: string } }) => within(event.service?.name, next, ofCtx),
	// (Moleculer calls the hooks with the broker as `this`)
	localChannel(this: ServiceBroker, next: Handler, chan: { context?: boolean; group?: string }) {
		return within(chan.group, next, chan.context === true ? ofCtx : args => messageRequestID(this, args[1]));
	}
} as Middleware;

/** A client-given id is echoed into logs and headers: only short, plain ones are taken. */
export const VALID_REQUEST_ID = /^[\w.:-]{1,128}$/;

type Bindings = { nodeID: string; ns: string; mod: string; svc?: string };
type Printer = (args: unknown[]) => unknown[];

/**
 * Moleculer's "short" (text) and "json" console formats, plus the request id when a line is
 * written on behalf of a request: `[12:00:00.000Z] INFO  PILOT: [req-42] Movie … created`, or
 * `{"ts":…,"level":"info","msg":"…","requestID":"req-42",…}`.
 */
export function logFormatter(json: boolean) {
	return function (
		this: { levelColorStr?: Record<string, string> },
		level: string,
		args: unknown[],
		bindings: Bindings,
		{ printArgs }: { printArgs: Printer }
	): string[] {
		const requestID = currentRequestID();
		if (json) return [JSON.stringify({ ts: Date.now(), level, msg: printArgs(args).join(" "), ...bindings, ...(requestID ? { requestID } : {}) })];
		return [
			`[${new Date().toISOString().substring(11)}]`,
			this.levelColorStr?.[level] ?? level.toUpperCase().padEnd(5),
			`${bindings.mod.toUpperCase()}:`,
			...(requestID ? [`[${requestID}]`] : []),
			...(printArgs(args) as string[])
		];
	};
}
