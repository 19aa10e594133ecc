/** One backoff formula for every retry: min(delay × factor^(n-1), maxDelay), the broker's own. */
import { backoffDelay, RETRIES, retrying } from "../../lib/retry";

it("waits the broker's retryPolicy delays", () => {
	expect([1, 2, 3, 4, 5].map(n => backoffDelay(RETRIES.call, n))).toEqual([100, 200, 400, 800, 1000]);
	expect([1, 2, 3, 4, 5, 6].map(n => backoffDelay(RETRIES.snapshot, n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000]);
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
