/** Items added in the same turn are flushed together; each caller gets its own result. */
import { Batcher } from "../../lib/ingest/batcher";

it("flushes what arrives in one turn as one batch and answers each caller", async () => {
	const batches: number[][] = [];
	const b = new Batcher<number, number>(async items => (batches.push(items), items.map(i => i * 10)));
	const results = await Promise.all([1, 2, 3].map(i => b.add(i)));
	expect(results).toEqual([10, 20, 30]);
	expect(batches).toEqual([[1, 2, 3]]);
	expect(await b.add(4)).toBe(40);
	expect(batches).toEqual([[1, 2, 3], [4]]);
});

it("never lets a batch grow beyond maxSize", async () => {
	const sizes: number[] = [];
	const b = new Batcher<number, number>(async items => (sizes.push(items.length), items), { maxSize: 4 });
	await Promise.all(Array.from({ length: 10 }, (_, i) => b.add(i)));
	expect(sizes).toEqual([4, 4, 2]);
});

it("a failing flush rejects every caller of that batch, and the next batch works", async () => {
	let fail = true;
	const b = new Batcher<number, number>(async items => {
		if (fail) throw new Error("store down");
		return items;
	});
	await expect(Promise.all([b.add(1), b.add(2)])).rejects.toThrow("store down");
	fail = false;
	await expect(b.add(3)).resolves.toBe(3);
});

it("writes at most maxConcurrent batches at once; what arrives meanwhile goes out as one batch", async () => {
	const batches: number[][] = [];
	const gates: (() => void)[] = [];
	const b = new Batcher<number, number>(items => new Promise(resolve => (batches.push(items), gates.push(() => resolve(items)))), { maxConcurrent: 1 });
	const first = b.add(1);
	await new Promise(r => setImmediate(r));
	const rest = [2, 3, 4].map(i => new Promise(r => setImmediate(r)).then(() => b.add(i)));
	await new Promise(r => setTimeout(r, 10));
	expect(batches).toEqual([[1]]); // 2, 3 and 4 wait for the batch in flight
	gates[0]();
	await first;
	await new Promise(r => setTimeout(r, 10));
	expect(batches).toEqual([[1], [2, 3, 4]]);
	gates[1]();
	expect(await Promise.all(rest)).toEqual([2, 3, 4]);
});

it("narrows a failure down to the items that fail alone, when the error may be an item's doing", async () => {
	const flushed: number[][] = [];
	const b = new Batcher<number, number>(
		async items => {
			flushed.push(items);
			if (items.includes(13)) throw new Error("bad item");
			return items;
		},
		{ isolate: err => (err as Error).message === "bad item" }
	);
	const outcomes = await Promise.allSettled(Array.from({ length: 32 }, (_, i) => b.add(i)));
	expect(outcomes.filter(o => o.status === "rejected")).toEqual([{ status: "rejected", reason: new Error("bad item") }]);
	expect(outcomes.flatMap(o => (o.status === "fulfilled" ? [o.value] : []))).toEqual(Array.from({ length: 32 }, (_, i) => i).filter(i => i !== 13));
	// halving: the batch, then one failing and one passing half per level down to the bad item alone
	expect(flushed.length).toBe(1 + 2 * Math.log2(32));
});

it("fails the whole batch at once when the error is not an item's (the store is away)", async () => {
	let flushes = 0;
	const b = new Batcher<number, number>(
		async () => {
			flushes++;
			throw new Error("store down");
		},
		{ isolate: err => (err as Error).message === "bad item" }
	);
	const outcomes = await Promise.allSettled(Array.from({ length: 32 }, (_, i) => b.add(i)));
	expect(outcomes.every(o => o.status === "rejected")).toBe(true);
	expect(flushes).toBe(1);
});
