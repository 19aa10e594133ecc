/** One backoff formula for every retry: min(delay × factor^(n-1), maxDelay), the broker's own, spread ±20 % where the system waits itself. */
import { backoffDelay, jittered, RETRIES, retryDelay, retrying } from "../../lib/retry";

it("waits the broker's retryPolicy delays", () => {
	expect([1, 2, 3, 4, 5].map(n => backoffDelay(RETRIES.call, n))).toEqual([100, 200, 400, 800, 1000]);
	expect([1, 2, 3, 4, 5, 6].map(n => backoffDelay(RETRIES.snapshot, n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000]);
});

it("spreads retry waits by ±20 %", () => {
	expect(jittered(1_000, () => 0)).toBe(800);
	expect(jittered(1_000, () => 0.5)).toBe(1_000);
	expect(jittered(1_000, () => 0.999999)).toBe(1_200);
});

it("does not let what failed together retry in step: a batch's 256 reports wait times spread over ±20 % of the backoff", () => {
	const waits = Array.from({ length: 256 }, () => retryDelay(RETRIES.storeWrite, 2));
	expect(Math.min(...waits)).toBeGreaterThanOrEqual(640);
	expect(Math.max(...waits)).toBeLessThanOrEqual(960);
	// spread over the range, not bunched: 256 draws of 321 milliseconds hit about 176 distinct ones
	expect(Math.max(...waits) - Math.min(...waits)).toBeGreaterThan(250);
	expect(new Set(waits).size).toBeGreaterThan(120);
});

it("retries until the task succeeds, telling each retry", async () => {
	const seen: number[] = [];
	const policy = { retries: 3, delay: 1, factor: 2, maxDelay: 4 };
	const result = await retrying(
		policy,
		async attempt => {
			if (attempt < 3) throw new Error(`fail ${attempt}`);
			return attempt;
		},
		{ onRetry: (_err, attempt, delayMs) => seen.push(attempt, delayMs) }
	);
	expect(result).toBe(3);
	expect(seen).toEqual([1, 1, 2, 2]);
});

it("rethrows the last error once the retries are spent", async () => {
	let calls = 0;
	await expect(retrying({ retries: 2, delay: 1, factor: 1, maxDelay: 1 }, async () => Promise.reject(new Error(`fail ${++calls}`)))).rejects.toThrow("fail 3");
});

it("stops at once on an error not worth retrying", async () => {
	let calls = 0;
	const task = async () => Promise.reject(Object.assign(new Error("fatal"), { code: ++calls }));
	await expect(retrying({ retries: 5, delay: 1, factor: 1, maxDelay: 1 }, task, { shouldRetry: () => false })).rejects.toThrow("fatal");
	expect(calls).toBe(1);
});
