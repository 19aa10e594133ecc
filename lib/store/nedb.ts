import DbService from "moleculer-db";
import lockfile from "proper-lockfile";
import { KeyedLock } from "./keyed-lock";
import type { Store } from "./store";

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
	async function writing<R>(write: () => Promise<R>): Promise<R> {
		try {
			return await write();
		} finally {
			everything = null;
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
	async function writeEach<D extends { _id: string }>(docs: D[], shouldWrite: (current: Record<string, unknown> | null, doc: D) => boolean) {
		const written = new Set<string>();
		await Promise.all(
			docs.map(doc =>
				lock.run(doc._id, async () => {
					const current = (await db().findOneAsync({ _id: doc._id })) as Record<string, unknown> | null;
					if (!shouldWrite(current, doc)) return;
					await writing(() => upsert(doc));
					written.add(doc._id);
				})
			)
		);
		return written;
	}
	// NeDB indexes one field per index: the lookup field (the window's order is filtered in memory)
	let indexed: Promise<void> | null = null;
	const ready = () => (indexed ??= index ? db().ensureIndexAsync({ fieldName: index[0] }) : Promise.resolve());
	return {
		get: async id => ((await db().findOneAsync({ _id: id })) as T | null) ?? null,
		getMany: async ids => (await db().findAsync({ _id: { $in: ids } })) as T[],
		async recent(field, values, order, { from, to, limit }) {
			await ready();
			const range = { ...(from != null ? { $gte: from } : {}), ...(to != null ? { $lt: to } : {}) };
			const docs = (await db().findAsync({ [field]: { $in: values }, ...(from != null || to != null ? { [order]: range } : {}) })) as T[];
			const newest = docs.sort((a, b) => (a[order] < b[order] ? 1 : a[order] > b[order] ? -1 : 0));
			const taken = new Map<unknown, number>();
			return newest.filter(d => {
				const n = (taken.get(d[field]) ?? 0) + 1;
				taken.set(d[field], n);
				return n <= limit;
			});
		},
		insertMany: docs =>
			writeEach(
				docs.map(d => ({ ...d })),
				current => current == null
			),
		removeWhere: (field, value) => writing(() => db().removeAsync({ [field]: value }, { multi: true })),
		all,
		put: doc => writing(async () => void (await upsert(doc))),
		update: ({ _id, ...fields }) => writing(async () => void (await db().updateAsync({ _id }, { $set: fields }, { upsert: false }))),
		putManyIfNewer: docs => writeEach(docs, (current, doc) => !(current?.version != null && (current.version as string) >= doc.version)),
		putManyUnless: (docs, field, value) => writeEach(docs, current => current?.[field] !== value),
		removeBefore: (field, value) => writing(() => db().removeAsync({ [field]: { $lt: value } }, { multi: true })),
		count: () => db().countAsync({})
	};
}
