/**
 * Collects items that arrive together and hands them to `flush` as one batch: what is added in the
 * same turn of the event loop (or until `maxSize`) is written by one statement instead of many.
 * Each `add` resolves with its own item's result, or rejects with the batch's error.
 */
export class Batcher<T, R> {
	private pending: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
	private scheduled = false;

	constructor(
		private readonly flush: (items: T[]) => Promise<R[]>,
		private readonly maxSize = 256
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
		const batch = this.pending.splice(0, this.maxSize);
		if (batch.length === 0) return;
		if (this.pending.length > 0 && !this.scheduled) {
			this.scheduled = true;
			setImmediate(() => this.run());
		}
		this.flush(batch.map(b => b.item)).then(
			results => batch.forEach((b, i) => b.resolve(results[i])),
			err => batch.forEach(b => b.reject(err))
		);
	}
}
