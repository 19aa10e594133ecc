import { setTimeout as sleep } from "node:timers/promises";
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { config } from "../lib/config";
import { holdMessage } from "../lib/bus";
import { RETRIES, retryDelay, retrying } from "../lib/retry";
import { createAdapter, storeOn } from "../lib/store";
import type { Columns, Store, StoreAdapter } from "../lib/store";
import { StoreReadinessMixin } from "./store-readiness.mixin";

interface StoresVars<K extends string> {
	adapters: Record<K, StoreAdapter>;
	stores: Record<K, Store<{ _id: string }>>;
	/** The probe under way while the store does not answer (see `storeAnswered`). */
	storeProbe?: Promise<boolean>;
}

export interface StoresMethods {
	/** Throws when any table cannot answer a trivial query (readiness). */
	checkStore(): Promise<void>;
	/**
	 * Resolves with true once every table answers again, probing (RETRIES.storeProbe) while the
	 * service runs; false at once when it answers now, and when the service stops first. One probe
	 * for the whole service, however many callers wait on it.
	 */
	storeAnswered(): Promise<boolean>;
	/**
	 * Runs `task`, a write of what the bus message `raw` says, until it succeeds, the message held
	 * unacked (`holdMessage` from the first failure on): tried again in place (RETRIES.storeWrite);
	 * when those tries are spent and the store does not answer at all, it waits for the store
	 * (`storeAnswered`) and starts over. Throws when the store answers and the task still fails, or
	 * when the service stops: then the message goes back to the bus.
	 */
	storeRetrying<T>(task: () => Promise<T>, raw: unknown): Promise<T>;
	/** `storeRetrying` after the task's first try failed with `first`. */
	storeRetried<T>(first: unknown, task: () => Promise<T>, raw: unknown): Promise<T>;
}

/**
 * Keyed collections (`Store`, lib/store) for a service that exposes its own actions instead of
 * moleculer-db's CRUD ones (trashReport: levels and reports), on the store `DB_URI` selects:
 * `this.stores.<table>`, connected before the service starts.
 */
export function StoresMixin<K extends string>(tables: Record<K, Columns>): Partial<ServiceSchema> {
	const names = Object.keys(tables) as K[];
	const schema: Partial<ServiceSchema<ServiceSettingSchema, StoresMethods, StoresVars<K>>> = {
		mixins: [StoreReadinessMixin],
		created() {
			this.adapters = {} as Record<K, StoreAdapter>;
			this.stores = {} as Record<K, Store<{ _id: string }>>;
			for (const name of names) {
				const adapter = createAdapter(name, tables[name], { uri: config.dbUri, dataDir: config.dataDir });
				adapter.init(this.broker, this as unknown as Service);
				this.adapters[name] = adapter;
				this.stores[name] = storeOn(adapter, name, tables[name]);
			}
		},
		// all tables at once: one by one, PostgreSQL's round trips per table (connect, create, describe)
		// added up to a quarter of a second before the service could start
		async started() {
			await Promise.all(names.map(name => this.adapters[name].connect()));
		},
		async stopped() {
			for (const name of names) await this.adapters[name].disconnect();
		},
		methods: {
			async checkStore(): Promise<void> {
				await Promise.all(names.map(name => this.stores[name].count()));
			},
			storeAnswered(): Promise<boolean> {
				const answers = () =>
					this.checkStore().then(
						() => true,
						() => false
					);
				return (this.storeProbe ??= (async () => {
					if (await answers()) return false;
					this.logger.warn("The store does not answer: what needs it waits until it does");
					for (let attempt = 1; this.broker.started; attempt++) {
						await sleep(retryDelay(RETRIES.storeProbe, attempt));
						if (await answers()) {
							this.logger.info("The store answers again");
							return true;
						}
					}
					return false;
				})().finally(() => (this.storeProbe = undefined)));
			},
			storeRetrying<T>(task: () => Promise<T>, raw: unknown): Promise<T> {
				// The first try alone: a report waits for its batch with thousands of others, and what
				// each holds meanwhile (the retry loop's frames and closures) is the consumer's garbage.
				return task().catch(err => this.storeRetried(err, task, raw));
			},
			async storeRetried<T>(first: unknown, task: () => Promise<T>, raw: unknown): Promise<T> {
				let release: (() => void) | undefined;
				const hold = () => (release ??= holdMessage(raw));
				let attempts = 0;
				// (the first attempt is the one storeRetrying made)
				const again = () => (attempts++ === 0 ? Promise.reject(first) : task());
				try {
					for (;;) {
						try {
							return await retrying(RETRIES.storeWrite, again, {
								shouldRetry: () => this.broker.started,
								onRetry: (err, attempt) => {
									this.logger.warn(`A store write failed (attempt ${attempt}), retrying:`, (err as Error).message);
									hold();
								}
							});
						} catch (err) {
							// A store that does not answer at all is no fault of the message: it waits for the
							// store rather than spend its deliveries, which in a long outage would dead-letter
							// every message the consumers held (test/integration/store-outage.spec.ts).
							hold();
							if (!(await this.storeAnswered())) throw err;
						}
					}
				} finally {
					release?.();
				}
			}
		}
	};
	return schema as unknown as Partial<ServiceSchema>;
}
