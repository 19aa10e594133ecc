import fs from "node:fs";
import path from "node:path";
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import DbService from "moleculer-db";
import type { DbAdapter } from "moleculer-db";
import { config } from "../lib/config";

export type { DbAdapter };

/**
 * moleculer-db's NeDB adapter wraps `update` in a promisify around a Promise, which works but makes
 * Node print DEP0174 on every update; NeDB 3 has `updateAsync`, so use it. File-backed stores are
 * append-only logs: compact them every minute so a long-running simulator does not grow them forever.
 */
class NeDbAdapter extends DbService.MemoryAdapter {
	declare db: any;
	override async connect(): Promise<void> {
		await super.connect();
		const db = this.db;
		db.update = (query: object, update: object, options: object) =>
			db.updateAsync(query, update, options).then((r: { numAffected: number; affectedDocuments: unknown }) => [r.numAffected, r.affectedDocuments]);
		if (db.filename) db.setAutocompactionInterval(60_000);
	}
	override async disconnect(): Promise<void> {
		this.db?.stopAutocompaction();
		// flush the compacted log so the next start reads a short file
		if (this.db?.filename) await this.db.compactDatafileAsync();
		return super.disconnect();
	}
}

/**
 * The one place that turns `DB_URI` into a moleculer-db adapter (STYLE.md rule 5):
 *  - unset       → NeDB files `<DATA_DIR>/<collection>.db`, which survive a restart
 *  - `memory://` → NeDB in memory, for throwaway runs
 */
export function createAdapter(collection: string, uri = config.dbUri, dataDir = config.dataDir): DbAdapter {
	if (uri == null) {
		fs.mkdirSync(dataDir, { recursive: true });
		return new NeDbAdapter({ filename: path.resolve(dataDir, `${collection}.db`) });
	}
	if (uri === "memory://") return new NeDbAdapter();
	const scheme = uri.split(":")[0];
	throw new Error(`Unsupported DB_URI scheme "${scheme}:" (use memory://, or leave DB_URI unset for NeDB files)`);
}

/**
 * moleculer-db over the adapter `DB_URI` selects. The adapter is made in `merged`, once per
 * service instance, so two brokers in one process never share a datastore.
 */
export default function DbMixin(collection: string): Partial<ServiceSchema> {
	return {
		mixins: [DbService],
		merged(schema: ServiceSchema & { adapter?: DbAdapter }) {
			schema.adapter = createAdapter(collection);
		},
		methods: {
			/** Throws when the store cannot answer a trivial query (readiness). */
			async checkStore(this: Service & { adapter: DbAdapter }): Promise<void> {
				await this.adapter.count();
			}
		}
	} as Partial<ServiceSchema>;
}

interface StoresVars<K extends string> {
	stores: Record<K, DbAdapter>;
}

/**
 * Plain moleculer-db adapters for a service that keeps several collections and exposes
 * its own actions instead of moleculer-db's CRUD ones (trashReport: levels and reports).
 */
export function StoresMixin<K extends string>(collections: readonly K[]): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema<ServiceSettingSchema, { checkStore(): Promise<void> }, StoresVars<K>>> = {
		created() {
			this.stores = Object.fromEntries(collections.map(c => [c, createAdapter(c)])) as Record<K, DbAdapter>;
			for (const store of Object.values<DbAdapter>(this.stores)) store.init(this.broker, this);
		},
		async started() {
			for (const store of Object.values<DbAdapter>(this.stores)) await store.connect();
		},
		async stopped() {
			for (const store of Object.values<DbAdapter>(this.stores)) await store.disconnect();
		},
		methods: {
			async checkStore(): Promise<void> {
				await this.stores[collections[0]].count();
			}
		}
	};
	return schema as unknown as Partial<ServiceSchema>;
}
