import type { DataTypes, ModelAttributes } from "sequelize";

/**
 * A table's columns, for SQL stores (NeDB is schemaless and ignores them): a function of
 * Sequelize's `DataTypes`, called only where a SQL store is made, so that a process on NeDB
 * never loads Sequelize.
 */
export type Columns = ((types: typeof DataTypes) => ModelAttributes) & {
	/** Fields looked up by (`recent`'s `field` and `order`), indexed together on SQL, the first on NeDB. */
	index?: string[];
};

/** A table's columns and the fields `recent` looks it up by. */
export const indexed = (columns: (types: typeof DataTypes) => ModelAttributes, index: string[]): Columns => Object.assign(columns, { index });

/** `recent`'s window: `order` in [from, to), at most `limit` documents per value of `field`. */
export interface RecentQuery {
	from?: string;
	to?: string;
	limit: number;
}

/** A keyed document collection: the few operations trashReport needs, the same on every store. */
export interface Store<T extends { _id: string }> {
	get(id: string): Promise<T | null>;
	/** The documents of these ids that exist, in no particular order. */
	getMany(ids: string[]): Promise<T[]>;
	/**
	 * For each of `values`, its documents (`field` equal to it) with the newest `order` in the
	 * window, newest first per value (values in no particular order).
	 */
	recent(field: keyof T & string, values: string[], order: keyof T & string, query: RecentQuery): Promise<T[]>;
	/**
	 * Inserts `doc` unless a document with the same `field` value already has its `order` in
	 * (`after`, `until`]; resolves with the earliest such document, or `doc` when it inserted it.
	 * Atomic per `field` value, also between processes (two replicas that see one event by two
	 * different reports record it once).
	 */
	insertUnlessWithin(doc: T, field: keyof T & string, order: keyof T & string, after: string, until?: string): Promise<T>;
	/** Inserts the documents whose ids are not stored yet (one statement on SQL); resolves with the ids inserted. */
	insertMany(docs: T[]): Promise<Set<string>>;
	/** Removes the documents whose `field` is `value`; returns how many. */
	removeWhere(field: keyof T & string, value: string): Promise<number>;
	all(): Promise<T[]>;
	/** Inserts the document, or sets the given fields of an existing one. */
	put(doc: Partial<T> & { _id: string }): Promise<void>;
	/**
	 * Writes each document unless the stored one has the same or a later `version` (a string that
	 * sorts in time order). Atomic per document, also between processes; one statement on SQL.
	 * Ids must be distinct. Resolves with the ids it wrote. The `always` fields are written to an
	 * existing document whatever its version (then it resolves with the ids whose stored document
	 * now has the given version).
	 */
	putManyIfNewer(docs: (T & { version: string })[], always?: (keyof T & string)[]): Promise<Set<string>>;
	/** Writes each document unless the stored one's `field` is already `value`; the same guarantees. */
	putManyUnless(docs: (Partial<T> & { _id: string })[], field: keyof T & string, value: string): Promise<Set<string>>;
	/** Removes the documents whose `field` sorts before `value`; returns how many. */
	removeBefore(field: keyof T & string, value: string): Promise<number>;
	count(): Promise<number>;
}
