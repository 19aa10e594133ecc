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
	const b = new Batcher<number, number>(async items => (sizes.push(items.length), items), 4);
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
