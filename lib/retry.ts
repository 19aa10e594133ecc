import { setTimeout as sleep } from "node:timers/promises";

/**
 * Every retry of the system, by name, with one formula: attempt n waits
 * `min(delay × factor^(n-1), maxDelay)` ms, the broker's own retryPolicy formula, spread ±20 %
 * (`jittered`) where the system waits itself.
 */
export interface Backoff {
	/** Tries after the first one. */
	retries: number;
	delay: number;
	factor: number;
	maxDelay: number;
}

export const RETRIES = {
	/** A call whose node vanished or did not answer: sent again, to another replica (the broker's retryPolicy). */
	call: { retries: 3, delay: 100, factor: 2, maxDelay: 1_000 },
	/** `POST /levels` while the bus cannot take a report (a NATS stream electing a new leader): then 503. */
	publish: { retries: 3, delay: 250, factor: 2, maxDelay: 1_000 },
	/** A message's effect the store could not take (a report, an alert): held unacked, so nothing is lost, and tried again in place. */
	storeWrite: { retries: 5, delay: 400, factor: 2, maxDelay: 5_000 },
	/** A store that does not answer at all (PostgreSQL down): probed, once per service, until it does. */
	storeProbe: { retries: Infinity, delay: 500, factor: 2, maxDelay: 5_000 },
	/** Two replicas creating one JetStream durable consumer at once: the loser binds to the winner's. */
	subscribe: { retries: 4, delay: 100, factor: 2, maxDelay: 1_000 },
	/** Two replicas running CREATE TABLE at once: the loser tries once more. */
	tableSync: { retries: 1, delay: 250, factor: 1, maxDelay: 250 },
	/** A dashboard snapshot that missed a part (a service was down): asked again until complete. */
	snapshot: { retries: Infinity, delay: 1_000, factor: 2, maxDelay: 30_000 },
	/** A webhook receiver that failed: the alert is held unacked and POSTed again (jittered) while the broker runs. */
	webhook: { retries: Infinity, delay: 1_000, factor: 2, maxDelay: 30_000 }
} as const satisfies Record<string, Backoff>;

/**
 * Deliveries of one report after which the channel dead-letters it (each delivery already ran
 * the `storeWrite` retries): a report that fails this often is broken, not unlucky. A delivery
 * during which the store did not answer at all is not spent: the report waits for the store.
 */
export const CHANNEL_MAX_DELIVERIES = 10;

/**
 * Call options of callers that must not retry: writes at the gateway (a timed-out write may have
 * happened; the services behind it retry their own dependencies within the client's deadline),
 * health probes (a probe reports, it does not insist) and dashboard snapshots (`RETRIES.snapshot`).
 */
export const NO_RETRY = { retries: 0 } as const;

/**
 * Per-call deadlines of the hops, by what is called. An operation takes milliseconds; a replica
 * that does not answer within these was killed with the call inside it (the bus already routes
 * new calls around it), so reads, which are safe to repeat, are sent again (`RETRIES.call`).
 */
export const CALLS = {
	/** Gateway → service, reads: three tries fit well inside REQUEST_TIMEOUT_MS. */
	gatewayRead: { timeout: 2_500, retries: 2 },
	/** Gateway → service, writes: one try, the client's whole deadline. */
	gatewayWrite: NO_RETRY,
	/** pilot → db, reads. */
	dbRead: { timeout: 1_000 },
	/** pilot → db, writes: a longer deadline, so a slow write is rarely repeated. */
	dbWrite: { timeout: 3_000 }
} as const;

/** How long to wait before retry number `attempt` (1 = the first retry). */
export function backoffDelay(policy: Backoff, attempt: number): number {
	return Math.min(policy.delay * policy.factor ** (attempt - 1), policy.maxDelay);
}

/**
 * A wait of `ms` spread ±20 %: what fails together (the reports of one batch, replicas probing one
 * store, webhooks to one receiver) does not retry in step and fail together again.
 */
export const jittered = (ms: number, random = Math.random): number => Math.round(ms * (0.8 + 0.4 * random()));

/** `backoffDelay`, jittered: the wait before retry number `attempt` wherever the system waits itself. */
export const retryDelay = (policy: Backoff, attempt: number): number => jittered(backoffDelay(policy, attempt));

export interface RetryHooks {
	/** Whether this error is worth another try (default: every error is). */
	shouldRetry?(err: unknown): boolean;
	/** Before each wait, e.g. to log or to tell the bus the message is still being worked on. */
	onRetry?(err: unknown, attempt: number, delayMs: number): void;
}

/**
 * Runs `task` until it resolves or `policy` is spent, then rethrows its last error. For work
 * outside a broker call (the broker's retryPolicy covers those): publishing, consuming, setup.
 */
export async function retrying<T>(policy: Backoff, task: (attempt: number) => Promise<T>, hooks: RetryHooks = {}): Promise<T> {
	for (let attempt = 1; ; attempt++) {
		try {
			return await task(attempt);
		} catch (err) {
			if (attempt > policy.retries || hooks.shouldRetry?.(err) === false) throw err;
			const delayMs = retryDelay(policy, attempt);
			hooks.onRetry?.(err, attempt, delayMs);
			await sleep(delayMs);
		}
	}
}
