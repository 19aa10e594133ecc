/**
 * Collects items that arrive together and hands them to `flush` as one batch: what is added in the
 * same turn of the event loop (or until `maxSize`) is written by one statement instead of many.
 * Each `add` resolves with its own item's result, or rejects with the batch's error.
 * At most `maxConcurrent` batches are written at once: what arrives meanwhile waits and goes
 * out as one larger batch, so a slow store gets fewer, bigger writes rather than more small ones.
 */
export class Batcher<T, R> {
	private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
	private scheduled = false;
	private running = 0;

	constructor(
		private readonly flush: (items: T[]) => Promise<R[]>,
		private readonly maxSize = 256,
		private readonly maxConcurrent = Infinity
	) {}

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
		this.flush(batch.map(b => b.item))
			.then(
				results => batch.forEach((b, i) => b.resolve(results[i])),
				err => batch.forEach(b => b.reject(err))
			)
			.finally(() => {
				this.running--;
				if (this.pending.length > 0) this.run();
			});
	}
}
