import fs from "node:fs";
import path from "node:path";
import type { ServiceBroker, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import DbService from "moleculer-db";
import type { DbAdapter } from "moleculer-db";
import SequelizeDbAdapter from "moleculer-db-adapter-sequelize";
import { DataTypes, Op, Sequelize } from "sequelize";
import type { ModelAttributes, ModelStatic, Model } from "sequelize";
import lockfile from "proper-lockfile";
import { config, maskUri } from "../lib/config";
import { KeyedLock } from "../lib/keyed-lock";

export type { DbAdapter };
export { DataTypes };

/** A table's columns, for SQL stores (NeDB is schemaless and ignores them). */
export type Columns = ModelAttributes;


/**
 * moleculer-db's NeDB adapter wraps `update` in a promisify around a Promise, which works but makes
 * Node print DEP0174 on every update; NeDB 3 has `updateAsync`, so use it. File-backed stores are
 * append-only logs: compact them every minute so a long-running simulator does not grow them forever.
 * A file store belongs to one process: a second process on the same file would interleave two
 * append logs, so it is locked, and a second opener fails with a clear error.
 */
class NeDbAdapter extends DbService.MemoryAdapter {
	declare db: any;
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
		db.update = (query: object, update: object, options: object) =>
			db.updateAsync(query, update, options).then((r: { numAffected: number; affectedDocuments: unknown }) => [r.numAffected, r.affectedDocuments]);
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

/** LIKE patterns take the search text literally. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, c => `\\${c}`);

/**
 * moleculer-db's Sequelize adapter on a table of our own definition, created on connect.
 * Two changes: `search` is a case-insensitive substring match with the text taken literally, as on
 * NeDB (the adapter's own is a case-sensitive LIKE that treats `%` and `_` as wildcards), and the
 * table creation is retried once, since two replicas starting together can race on CREATE TABLE.
 */
class SqlAdapter extends SequelizeDbAdapter {
	declare db: Sequelize;
	declare model: ModelStatic<Model>;
	declare service: Service;
	declare broker: ServiceBroker;

	constructor(
		private readonly uri: string,
		private readonly table: string,
		private readonly columns: Columns
	) {
		super(uri);
	}

	override init(broker: ServiceBroker, service: Service): void {
		this.broker = broker;
		this.service = service;
	}

	override async connect(): Promise<void> {
		this.db = new Sequelize(this.uri, { logging: false, pool: { max: 5, acquire: 5_000 } });
		await this.db.authenticate();
		this.model = this.db.define(this.table, this.columns, { tableName: this.table, timestamps: false });
		try {
			await this.model.sync();
		} catch {
			await new Promise(r => setTimeout(r, 250));
			await this.model.sync();
		}
	}

	/** Absent fields are absent, as on NeDB, not `null`. */
	override entityToObject(entity: Model): object {
		return Object.fromEntries(Object.entries(entity.get({ plain: true }) as object).filter(([, v]) => v !== null));
	}

	override createCursor(params: Record<string, any> | undefined, isCounting?: boolean) {
		const cursor = super.createCursor.bind(this) as (p: object | undefined, counting?: boolean) => unknown;
		if (typeof params?.search !== "string" || params.search === "") return cursor(params, isCounting);
		const { search, searchFields, query, ...rest } = params;
		const fields: string[] = typeof searchFields === "string" ? searchFields.split(" ") : (searchFields ?? []);
		const match = { [Op.or]: fields.map(f => ({ [f]: { [Op.iLike]: `%${escapeLike(search)}%` } })) };
		return cursor({ ...rest, query: query ? { [Op.and]: [query, match] } : match }, isCounting);
	}
}

/**
 * The one place that turns `DB_URI` into a moleculer-db adapter (STYLE.md rule 5):
 *  - unset                    → NeDB files `<DATA_DIR>/<collection>.db`, which survive a restart
 *  - `memory://`              → NeDB in memory, for throwaway runs
 *  - `postgres://…`           → table `<collection>` in PostgreSQL (shared by replicas)
 */
export function createAdapter(collection: string, columns: Columns, uri = config.dbUri, dataDir = config.dataDir): NeDbAdapter | SqlAdapter {
	if (uri == null) {
		fs.mkdirSync(dataDir, { recursive: true });
		return new NeDbAdapter(path.resolve(dataDir, `${collection}.db`));
	}
	if (uri === "memory://") return new NeDbAdapter();
	if (/^postgres(ql)?:\/\//.test(uri)) return new SqlAdapter(uri, collection, columns);
	const scheme = uri.split(":")[0];
	throw new Error(`Unsupported DB_URI scheme "${scheme}:" in ${maskUri(uri)} (use postgres://…, memory://, or leave DB_URI unset for NeDB files)`);
}

/**
 * moleculer-db over the adapter `DB_URI` selects. The adapter is made in `merged`, once per
 * service instance, so two brokers in one process never share a datastore.
 */
export default function DbMixin(collection: string, columns: Columns): Partial<ServiceSchema> {
	return {
		mixins: [DbService],
		merged(schema: ServiceSchema & { adapter?: DbAdapter }) {
			schema.adapter = createAdapter(collection, columns) as unknown as DbAdapter;
		},
		created(this: Service & { adapter?: unknown }) {
			if (this.adapter instanceof NeDbAdapter) this.adapter.lock();
		},
		methods: {
			/** Throws when the store cannot answer a trivial query (readiness). */
			async checkStore(this: Service & { adapter: DbAdapter }): Promise<void> {
				await this.adapter.count();
			}
		}
	} as Partial<ServiceSchema>;
}

/** A keyed document collection: the few operations trashReport needs, the same on every store. */
export interface Store<T extends { _id: string }> {
	get(id: string): Promise<T | null>;
	all(): Promise<T[]>;
	/** Inserts the document, or sets the given fields of an existing one. */
	put(doc: Partial<T> & { _id: string }): Promise<void>;
	/**
	 * Writes each document unless the stored one has the same or a later `version` (a string that
	 * sorts in time order). Atomic per document, also between processes; one statement on SQL.
	 * Ids must be distinct. Resolves with the ids it wrote.
	 */
	putManyIfNewer(docs: (T & { version: string })[]): Promise<Set<string>>;
	/** Writes each document unless the stored one's `field` is already `value`; the same guarantees. */
	putManyUnless(docs: (Partial<T> & { _id: string })[], field: keyof T & string, value: string): Promise<Set<string>>;
	/** Removes the documents whose `field` sorts before `value`; returns how many. */
	removeBefore(field: keyof T & string, value: string): Promise<number>;
	count(): Promise<number>;
}

/** NeDB: one process owns the file (locked), so a per-key lock makes the compare-and-set atomic. */
function nedbStore<T extends { _id: string }>(adapter: NeDbAdapter): Store<T> {
	const lock = new KeyedLock();
	const db = () => adapter.db;
	const upsert = ({ _id, ...fields }: { _id: string }) => db().updateAsync({ _id }, { $set: fields }, { upsert: true });
	/** Read-compare-write of each document under its key's lock; the ids written. */
	async function writeEach<D extends { _id: string }>(docs: D[], shouldWrite: (current: Record<string, unknown> | null, doc: D) => boolean) {
		const written = new Set<string>();
		await Promise.all(
			docs.map(doc =>
				lock.run(doc._id, async () => {
					const current = (await db().findOneAsync({ _id: doc._id })) as Record<string, unknown> | null;
					if (!shouldWrite(current, doc)) return;
					await upsert(doc);
					written.add(doc._id);
				})
			)
		);
		return written;
	}
	return {
		get: async id => ((await db().findOneAsync({ _id: id })) as T | null) ?? null,
		all: () => db().findAsync({}),
		put: async doc => void (await upsert(doc)),
		putManyIfNewer: docs =>
			writeEach(docs, (current, doc) => !(current?.version != null && (current.version as string) >= doc.version)),
		putManyUnless: (docs, field, value) => writeEach(docs, current => current?.[field] !== value),
		removeBefore: (field, value) => db().removeAsync({ [field]: { $lt: value } }, { multi: true }),
		count: () => db().countAsync({})
	};
}

/** PostgreSQL: the compare-and-set is one INSERT … ON CONFLICT … WHERE statement. */
function sqlStore<T extends { _id: string }>(adapter: SqlAdapter, table: string): Store<T> {
	const plain = (m: Model | null) => (m ? (adapter.entityToObject(m) as T) : null);
	const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
	/**
	 * One multi-row INSERT … ON CONFLICT DO UPDATE [WHERE condition] … RETURNING: the ingest hot path
	 * writes a whole batch of reports in one round trip. Resolves with the ids written.
	 */
	async function upsert(docs: object[], condition?: (nextParam: number) => string, extra: unknown[] = []): Promise<Set<string>> {
		if (docs.length === 0) return new Set();
		// Rows in id order: concurrent batches from several replicas then lock rows in the same
		// order and cannot deadlock (in arrival order they did, under a burst over few cans).
		docs = [...docs].sort((a, b) => ((a as { _id: string })._id < (b as { _id: string })._id ? -1 : 1));
		const cols = Object.keys(docs[0]).filter(c => (docs[0] as Record<string, unknown>)[c] !== undefined);
		const values = docs.map((_, row) => `(${cols.map((_, i) => `$${row * cols.length + i + 1}`).join(", ")})`).join(", ");
		const sql =
			`INSERT INTO ${q(table)} (${cols.map(q).join(", ")}) VALUES ${values} ` +
			`ON CONFLICT ("_id") DO UPDATE SET ${cols.filter(c => c !== "_id").map(c => `${q(c)} = EXCLUDED.${q(c)}`).join(", ")}` +
			(condition ? ` WHERE ${condition(docs.length * cols.length + 1)}` : "") +
			` RETURNING "_id"`;
		const bind = [...docs.flatMap(d => cols.map(c => (d as Record<string, unknown>)[c] ?? null)), ...extra];
		const [rows] = await adapter.db.query(sql, { bind });
		return new Set((rows as { _id: string }[]).map(r => r._id));
	}
	return {
		get: async id => plain(await adapter.model.findByPk(id)),
		all: async () => (await adapter.model.findAll()).map(m => plain(m)!),
		put: async doc => void (await upsert([doc])),
		putManyIfNewer: docs => upsert(docs, () => `${q(table)}."version" IS NULL OR ${q(table)}."version" < EXCLUDED."version"`),
		putManyUnless: (docs, field, value) => upsert(docs, next => `${q(table)}.${q(field)} IS DISTINCT FROM $${next}`, [value]),
		removeBefore: (field, value) => adapter.model.destroy({ where: { [field]: { [Op.lt]: value } } }),
		count: () => adapter.model.count()
	};
}

interface StoresVars<K extends string> {
	adapters: Record<K, NeDbAdapter | SqlAdapter>;
	stores: Record<K, Store<any>>;
}

/**
 * Keyed collections (see `Store`) for a service that exposes its own actions instead of
 * moleculer-db's CRUD ones (trashReport: levels and reports), on the store `DB_URI` selects.
 */
export function StoresMixin<K extends string>(tables: Record<K, Columns>): Partial<ServiceSchema> {
	const names = Object.keys(tables) as K[];
	const schema: Partial<ServiceSchema<ServiceSettingSchema, { checkStore(): Promise<void> }, StoresVars<K>>> = {
		created() {
			this.adapters = {} as Record<K, NeDbAdapter | SqlAdapter>;
			this.stores = {} as Record<K, Store<any>>;
			for (const name of names) {
				const adapter = createAdapter(name, tables[name]);
				if (adapter instanceof NeDbAdapter) adapter.lock();
				adapter.init(this.broker, this as unknown as Service);
				this.adapters[name] = adapter;
				this.stores[name] = adapter instanceof SqlAdapter ? sqlStore(adapter, name) : nedbStore(adapter);
			}
		},
		async started() {
			for (const name of names) await this.adapters[name].connect();
		},
		async stopped() {
			for (const name of names) await this.adapters[name].disconnect();
		},
		methods: {
			async checkStore(): Promise<void> {
				await this.stores[names[0]].count();
			}
		}
	};
	return schema as unknown as Partial<ServiceSchema>;
}
