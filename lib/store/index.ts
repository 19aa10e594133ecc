/**
 * The one place that turns `DB_URI` into a store (STYLE.md rule 5):
 *  - unset          → NeDB files `<DATA_DIR>/<collection>.db`, which survive a restart
 *  - `memory://`    → NeDB in memory, for throwaway runs
 *  - `postgres://…` → table `<collection>` in PostgreSQL (shared by replicas)
 * Each gives a moleculer-db adapter (the movies) and a `Store` on it (levels and report statuses).
 */
import fs from "node:fs";
import path from "node:path";
import { maskUri } from "../config";
import { NeDbAdapter, nedbStore } from "./nedb";
import type { SqlAdapter } from "./sql";
import type { Columns, Store } from "./store";

export type { Columns, RecentQuery, Span, Store } from "./store";
export { indexed } from "./store";

export type StoreAdapter = NeDbAdapter | SqlAdapter;

/** The SQL store, loaded (with Sequelize, pg and their ~400 modules) only by a process that uses one. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sql = (): typeof import("./sql") => require("./sql");

export interface StoreLocation {
	/** `DB_URI`; null for NeDB files. */
	uri: string | null;
	/** `DATA_DIR`, where NeDB files live. */
	dataDir: string;
}

/** The moleculer-db adapter for `collection`. A NeDB file is locked at once: it belongs to one process. */
export function createAdapter(collection: string, columns: Columns, { uri, dataDir }: StoreLocation): StoreAdapter {
	if (uri == null) {
		fs.mkdirSync(dataDir, { recursive: true });
		const adapter = new NeDbAdapter(path.resolve(dataDir, `${collection}.db`));
		adapter.lock();
		return adapter;
	}
	if (uri === "memory://") return new NeDbAdapter();
	if (/^postgres(ql)?:\/\//.test(uri)) return new (sql().SqlAdapter)(uri, collection, columns);
	const scheme = uri.split(":")[0];
	throw new Error(`Unsupported DB_URI scheme "${scheme}:" in ${maskUri(uri)} (use postgres://…, memory://, or leave DB_URI unset for NeDB files)`);
}

/** The keyed collection on an adapter made by `createAdapter`. */
export function storeOn<T extends { _id: string }>(adapter: StoreAdapter, table: string, columns?: Columns): Store<T> {
	return adapter instanceof NeDbAdapter ? nedbStore<T>(adapter, columns?.index) : sql().sqlStore<T>(adapter, table);
}

/** PostgreSQL's SQLSTATEs for "the server is not there for you": connection exceptions, shutdown, starting up. */
const UNREACHABLE_STATES = /^(08...|57P0[1-3])$/;
/** Node's socket errors on the way to the server. */
const SOCKET_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EPIPE"]);

/**
 * Whether `err` says the store could not be reached at all (PostgreSQL down, restarting, the
 * network), rather than that it refused what was asked. By name and code, so that a process on
 * NeDB never loads Sequelize to ask: Sequelize's connection errors, and its DatabaseError around
 * a connection exception or a connection pg lost mid-query.
 */
export function isStoreUnreachable(err: unknown): boolean {
	const e = err as { name?: string; message?: string; code?: string; parent?: { code?: string; message?: string } } | null;
	if (!e || typeof e !== "object") return false;
	if (/^Sequelize(Connection\w*|AccessDenied|HostNotFound|HostNotReachable|InvalidConnection)Error$/.test(e.name ?? "")) return true;
	const code = e.parent?.code ?? e.code;
	if (code && (UNREACHABLE_STATES.test(code) || SOCKET_ERRORS.has(code))) return true;
	return /Connection terminated/i.test(e.parent?.message ?? e.message ?? "");
}
