import type { Service, ServiceSchema } from "moleculer";
import DbService from "moleculer-db";
import type { DbAdapter } from "moleculer-db";
import { config } from "../lib/config";
import { createAdapter } from "../lib/store";
import type { Columns } from "../lib/store";
import { StoreReadinessMixin } from "./store-readiness.mixin";

/**
 * moleculer-db's CRUD actions over the adapter `DB_URI` selects (lib/store). The adapter is made
 * in `merged`, once per service instance, so two brokers in one process never share a datastore.
 * Reads are cached by the broker's cacher and cleared on every node after a write.
 */
export default function DbMixin(collection: string, columns: Columns): Partial<ServiceSchema> {
	return {
		mixins: [DbService, StoreReadinessMixin],
		merged(schema: ServiceSchema & { adapter?: DbAdapter }) {
			schema.adapter = createAdapter(collection, columns, { uri: config.dbUri, dataDir: config.dataDir }) as unknown as DbAdapter;
			// moleculer-db broadcasts this after a change: what this node cached from a shared table is stale
			schema.events = {
				...schema.events,
				async [`cache.clean.${schema.name}`](this: Service) {
					await this.broker.cacher?.clean(`${this.fullName}.**`);
				}
			};
		},
		methods: {
			/** Throws when the store cannot answer a trivial query (readiness). */
			async checkStore(this: Service & { adapter: DbAdapter }): Promise<void> {
				await this.adapter.count();
			}
		}
	} as Partial<ServiceSchema>;
}
