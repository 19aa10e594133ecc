import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, Middleware } from "moleculer";

/**
 * The request id of whatever this async chain is working for. Moleculer already carries
 * `ctx.requestID` across calls, events and nodes (and moleculer-web takes it from `X-Request-ID`
 * and answers it back); this store makes it visible to log lines, which have no ctx.
 */
const requestIDs = new AsyncLocalStorage<string>();

export const currentRequestID = (): string | undefined => requestIDs.getStore();

type Handler = (...args: unknown[]) => Promise<unknown>;
const within =
	(next: Handler): Handler =>
	(ctx, ...rest) => {
		const id = (ctx as Context | null)?.requestID;
		return id ? requestIDs.run(id, next, ctx, ...rest) : next(ctx, ...rest);
	};

/**
 * Runs every local action, event handler and channel handler (channels with `context: true`
 * get the sender's ctx, request id included) inside its request id.
 */
export const RequestIdMiddleware = {
	name: "RequestId",
	localAction: within,
	localEvent: within,
	localChannel: (next: Handler, chan: { context?: boolean }) => (chan.context ? within(next) : next)
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
