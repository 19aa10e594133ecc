/** Tasks with the same key never interleave; tasks with different keys do not wait for each other. */
import { KeyedLock } from "../../lib/store/keyed-lock";

const tick = (ms: number) => new Promise(r => setTimeout(r, ms));

it("runs tasks of one key strictly one after another, in order", async () => {
	const lock = new KeyedLock();
	const log: string[] = [];
	const task = (name: string, ms: number) => async () => {
		log.push(`${name}:start`);
		await tick(ms);
		log.push(`${name}:end`);
		return name;
	};
	const results = await Promise.all([lock.run("can", task("a", 20)), lock.run("can", task("b", 1)), lock.run("can", task("c", 5))]);
	expect(results).toEqual(["a", "b", "c"]);
	expect(log).toEqual(["a:start", "a:end", "b:start", "b:end", "c:start", "c:end"]);
});

it("does not make other keys wait", async () => {
	const lock = new KeyedLock();
	const log: string[] = [];
	const slow = lock.run("x", async () => {
		await tick(30);
		log.push("x");
	});
	await lock.run("y", async () => void log.push("y"));
	await slow;
	expect(log).toEqual(["y", "x"]);
});

it("a failing task rejects its caller but does not block the next one", async () => {
	const lock = new KeyedLock();
	const failed = lock.run("k", async () => {
		throw new Error("boom");
	});
	await expect(failed).rejects.toThrow("boom");
	await expect(lock.run("k", async () => "next")).resolves.toBe("next");
});
