import DbService from "moleculer-db";
import lockfile from "proper-lockfile";
import { KeyedLock } from "./keyed-lock";
import type { RecentQuery, Span, Store } from "./store";

/** How many of the newest documents per indexed value a NeDB store keeps in memory (TREND_WINDOW reads 40). */
const RECENT_KEPT = 64;

/** The part of NeDB 3's Datastore (moleculer-db's MemoryAdapter `db`) used here. */
interface Datastore {
	findOneAsync(query: object): Promise<unknown>;
	findAsync(query: object): Promise<unknown[]>;
	updateAsync(query: object, update: object, options: object): Promise<{ numAffected: number; affectedDocuments: unknown }>;
	removeAsync(query: object, options: object): Promise<number>;
	countAsync(query: object): Promise<number>;
	insertAsync(docs: object[]): Promise<unknown>;
	ensureIndexAsync(options: { fieldName: string }): Promise<void>;
	update(query: object, update: object, options: object): Promise<unknown>;
	setAutocompactionInterval(ms: number): void;
	stopAutocompaction(): void;
	compactDatafileAsync(): Promise<void>;
}

/**
 * moleculer-db's NeDB adapter wraps `update` in a promisify around a Promise, which works but makes
 * Node print DEP0174 on every update; NeDB 3 has `updateAsync`, so use it. File-backed stores are
 * append-only logs: compact them every minute so a long-running simulator does not grow them forever.
 * A file store belongs to one process: a second process on the same file would interleave two
 * append logs, so it is locked, and a second opener fails with a clear error.
 */
export class NeDbAdapter extends DbService.MemoryAdapter {
	declare db: Datastore;
	private release?: () => void;

	constructor(private readonly filename?: string) {
		super(filename ? { filename } : {});
	}

	/**
	 * Takes the file lock. Called when the service is created, not on connect: moleculer-db retries
	 * a failing connect forever, and a file owned by another process is not worth waiting for.
	 */
	lock(): void {
		if (!this.filename || this.release) return;
		try {
			// The lock is a sibling directory refreshed every few seconds; a crashed owner's goes stale after 10 s.
			this.release = lockfile.lockSync(this.filename, { realpath: false, stale: 10_000, update: 2_000 });
		} catch (err) {
			throw new Error(
				`${this.filename} is in use by another process (${(err as Error).message}). ` +
					"NeDB files belong to one process: run replicas with DB_URI=postgres://… or give each its own DATA_DIR."
			);
		}
	}

	override async connect(): Promise<void> {
		this.lock();
		await super.connect();
		const db = this.db;
		db.update = (query: object, update: object, options: object) => db.updateAsync(query, update, options).then(r => [r.numAffected, r.affectedDocuments]);
		if (this.filename) db.setAutocompactionInterval(60_000);
	}

	override async disconnect(): Promise<void> {
		if (this.db) {
			this.db.stopAutocompaction();
			// flush the compacted log so the next start reads a short file
			if (this.filename) await this.db.compactDatafileAsync();
		}
		this.release?.();
		this.release = undefined;
		return super.disconnect();
	}
}

/**
 * NeDB: one process owns the file (locked), so a per-key lock makes the compare-and-set atomic,
 * and every write passes through here: `all()` answers from the last read until a write is done
 * (the gateway's `GET /levels` reads every can on each request; NeDB copies each document on each
 * read). A read that overlapped a write is never kept. Callers must not mutate what `all()` returns.
 */
export function nedbStore<T extends { _id: string }>(adapter: NeDbAdapter, index?: string[]): Store<T> {
	const lock = new KeyedLock();
	const db = () => adapter.db;
	let everything: Promise<T[]> | null = null;
	/** Drops the kept read once the write is done: a read started before then (even during it) is never answered again. */
	async function writing<R>(write: () => Promise<R>, keepsNewest = false): Promise<R> {
		try {
			return await write();
		} finally {
			everything = null;
			if (!keepsNewest) forgetNewest();
		}
	}
	function all(): Promise<T[]> {
		if (everything) return everything;
		// findAsync gives a cursor that runs the query again each time it is awaited: one promise, one run
		const read = Promise.resolve(db().findAsync({}) as Promise<T[]>);
		everything = read;
		read.catch(() => {
			if (everything === read) everything = null;
		});
		return read;
	}
	const upsert = ({ _id, ...fields }: { _id: string }) => db().updateAsync({ _id }, { $set: fields }, { upsert: true });
	/** Read-compare-write of each document under its key's lock; the ids written. */
	async function writeEach<D extends { _id: string }>(
		docs: D[],
		shouldWrite: (current: Record<string, unknown> | null, doc: D) => boolean,
		keepsNewest = false
	) {
		const written = new Set<string>();
		await Promise.all(
			docs.map(doc =>
				lock.run(doc._id, async () => {
					const current = (await db().findOneAsync({ _id: doc._id })) as Record<string, unknown> | null;
					if (!shouldWrite(current, doc)) return;
					await writing(() => upsert(doc), keepsNewest);
					written.add(doc._id);
				})
			)
		);
		return written;
	}
	// NeDB indexes one field per index: the lookup field; the newest documents per value of it are
	// kept in memory (this process owns the file, so it sees every write), or each ingest batch
	// would sort a can's whole history.
	let indexed: Promise<void> | null = null;
	const ready = () => (indexed ??= index ? db().ensureIndexAsync({ fieldName: index[0] }) : Promise.resolve());
	const newestOf = new Map<unknown, T[]>();
	let generation = 0;
	const byOrder = (order: keyof T) => (a: T, b: T) => (a[order] < b[order] ? 1 : a[order] > b[order] ? -1 : 0);
	async function query(field: keyof T & string, values: unknown[], order: keyof T & string, from?: string, to?: string): Promise<T[]> {
		await ready();
		const range = { ...(from != null ? { $gte: from } : {}), ...(to != null ? { $lt: to } : {}) };
		const docs = (await db().findAsync({ [field]: { $in: values }, ...(from != null || to != null ? { [order]: range } : {}) })) as T[];
		return docs.sort(byOrder(order));
	}
	/** The newest RECENT_KEPT documents of `value`, from memory once read. */
	async function newest(field: keyof T & string, value: unknown, order: keyof T & string): Promise<T[]> {
		const kept = newestOf.get(value);
		if (kept) return kept;
		const at = generation;
		const docs = (await query(field, [value], order)).slice(0, RECENT_KEPT);
		if (at === generation) newestOf.set(value, docs);
		return docs;
	}
	const cacheable = (field: string, order: string, q: RecentQuery) =>
		index?.[0] === field && index[1] === order && q.from == null && q.to == null && q.limit <= RECENT_KEPT;
	async function findOverlapping(field: keyof T & string, value: string, span: Span<T>, from: string, to: string): Promise<T | null> {
		await ready();
		const docs = (await db().findAsync({ [field]: value, [span.start]: { $lt: to }, [span.end]: { $gt: from } })) as T[];
		return docs.sort(byOrder(span.end)).at(-1) ?? null;
	}
	/** Anything but an insert may have changed or removed a kept document: forget them all. */
	function forgetNewest() {
		generation++;
		newestOf.clear();
	}
	return {
		get: async id => ((await db().findOneAsync({ _id: id })) as T | null) ?? null,
		getMany: async ids => (await db().findAsync({ _id: { $in: ids } })) as T[],
		async recent(field, values, order, q) {
			if (cacheable(field, order, q)) return (await Promise.all(values.map(v => newest(field, v, order)))).flatMap(docs => docs.slice(0, q.limit));
			const taken = new Map<unknown, number>();
			return (await query(field, values, order, q.from, q.to)).filter(d => {
				const n = (taken.get(d[field]) ?? 0) + 1;
				taken.set(d[field], n);
				return n <= q.limit;
			});
		},
		overlapping: (field, value, span, from, to) => findOverlapping(field, value, span, from, to),
		insertUnlessOverlapping: (doc, field, span) =>
			lock.run(`${field}|${String(doc[field])}`, async () => {
				const found = await findOverlapping(field, String(doc[field]), span, String(doc[span.start]), String(doc[span.end]));
				if (found) return found;
				await writing(() => upsert(doc));
				return doc;
			}),
		async insertMany(docs) {
			const inserted = await writeEach(
				docs.map(d => ({ ...d })),
				current => current == null,
				true
			);
			generation++;
			const added = new Set<string>();
			if (index)
				for (const doc of docs) {
					const kept = inserted.has(doc._id) && !added.has(doc._id) ? newestOf.get(doc[index[0] as keyof T]) : undefined;
					added.add(doc._id);
					if (kept) kept.splice(0, kept.length, ...[...kept, doc].sort(byOrder(index[1] as keyof T)).slice(0, RECENT_KEPT));
				}
			return inserted;
		},
		removeWhere: (field, value) => writing(() => db().removeAsync({ [field]: value }, { multi: true })),
		all,
		put: doc => writing(async () => void (await upsert(doc))),
		async putManyIfNewer(docs, always = [], forward = []) {
			const isNewer = (current: Record<string, unknown> | null, doc: { version: string }) =>
				!(current?.version != null && (current.version as string) >= doc.version);
			// the `forward` fields never move back, also when the rest of the document is newer
			const keepForward = (current: Record<string, unknown> | null, doc: Record<string, unknown>) => {
				for (const f of forward) if (current?.[f] != null && (doc[f] == null || (current[f] as string) > (doc[f] as string))) doc[f] = current[f];
			};
			const written = await writeEach(
				docs.map(d => ({ ...d })),
				(current, doc) => isNewer(current, doc) && (keepForward(current, doc as Record<string, unknown>), true)
			);
			if (always.length === 0) return written;
			// the older ones: only their `always` fields, where a document exists
			await Promise.all(
				docs
					.filter(doc => !written.has(doc._id))
					.map(doc =>
						lock.run(doc._id, async () => {
							const current = (await db().findOneAsync({ _id: doc._id })) as Record<string, unknown> | null;
							if (!current) return;
							const fields: Record<string, unknown> = Object.fromEntries(always.map(f => [f, doc[f] ?? null]));
							keepForward(current, fields);
							await writing(() => db().updateAsync({ _id: doc._id }, { $set: fields }, { upsert: false }));
						})
					)
			);
			const now = (await db().findAsync({ _id: { $in: docs.map(d => d._id) } })) as (T & { version?: string })[];
			const versions = new Map(docs.map(d => [d._id, d.version]));
			return new Set(now.filter(d => d.version === versions.get(d._id)).map(d => d._id));
		},
		putManyUnless: (docs, field, value) => writeEach(docs, current => current?.[field] !== value),
		removeBefore: (field, value) => writing(() => db().removeAsync({ [field]: { $lt: value } }, { multi: true })),
		count: () => db().countAsync({})
	};
}
