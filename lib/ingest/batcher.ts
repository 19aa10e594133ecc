export interface BatcherOptions {
	/** The largest batch. */
	maxSize?: number;
	/** Batches written at once. */
	maxConcurrent?: number;
	/**
	 * Whether a failed batch's error may be one item's doing (not the store's being away): then the
	 * batch is halved and each half flushed on its own, down to single items, so that only the
	 * items that fail alone are rejected. Without it, one bad item fails every item of its batch.
	 */
	isolate?: (err: unknown) => boolean;
}

/**
 * Collects items that arrive together and hands them to `flush` as one batch: what is added in the
 * same turn of the event loop (or until `maxSize`) is written by one statement instead of many.
 * Each `add` resolves with its own item's result, or rejects with the batch's error (see `isolate`).
 * At most `maxConcurrent` batches are written at once: what arrives meanwhile waits and goes
 * out as one larger batch, so a slow store gets fewer, bigger writes rather than more small ones.
 */
/** An item and its caller's answer. */
type Waiting<T, R> = { item: T; resolve: (r: R) => void; reject: (e: unknown) => void };

export class Batcher<T, R> {
	private pending: Waiting<T, R>[] = [];
	private scheduled = false;
	private running = 0;

	private readonly maxSize: number;
	private readonly maxConcurrent: number;
	private readonly isolate: (err: unknown) => boolean;

	constructor(
		private readonly flush: (items: T[]) => Promise<R[]>,
		{ maxSize = 256, maxConcurrent = Infinity, isolate = () => false }: BatcherOptions = {}
	) {
		this.maxSize = maxSize;
		this.maxConcurrent = maxConcurrent;
		this.isolate = isolate;
	}

	add(item: T): Promise<R> {
		return new Promise<R>((resolve, reject) => {
			this.pending.push({ item, resolve, reject });
			if (this.pending.length >= this.maxSize) this.run();
			else if (!this.scheduled) {
				this.scheduled = true;
				setImmediate(() => this.run());
			}
		});
	}

	private run(): void {
		this.scheduled = false;
		if (this.running >= this.maxConcurrent) return; // the batch in flight runs it when done
		const batch = this.pending.splice(0, this.maxSize);
		if (batch.length === 0) return;
		if (this.pending.length > 0 && !this.scheduled) {
			this.scheduled = true;
			setImmediate(() => this.run());
		}
		this.running++;
		this.settle(batch).finally(() => {
			this.running--;
			if (this.pending.length > 0) this.run();
		});
	}

	/** Flushes `batch` and answers its callers; a failure `isolate` accepts is narrowed down by halves. */
	private async settle(batch: Waiting<T, R>[]): Promise<void> {
		try {
			const results = await this.flush(batch.map(b => b.item));
			batch.forEach((b, i) => b.resolve(results[i]));
		} catch (err) {
			if (batch.length === 1 || !this.isolate(err)) return batch.forEach(b => b.reject(err));
			const half = batch.length >> 1;
			await this.settle(batch.slice(0, half));
			await this.settle(batch.slice(half));
		}
	}
}
