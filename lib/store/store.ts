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

/** The fields holding a document's time span (ISO strings). */
export type Span<T> = { start: keyof T & string; end: keyof T & string };

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
	 * The earliest (by `end`) document with this `field` value whose [`start`, `end`] span overlaps
	 * (`from`, `to`], or null.
	 */
	overlapping(field: keyof T & string, value: string, span: Span<T>, from: string, to: string): Promise<T | null>;
	/**
	 * Inserts `doc` unless `overlapping` finds one for its own span; resolves with that one, or `doc`.
	 * Atomic per `field` value, also between processes (two replicas that see one event through
	 * different reports record it once).
	 */
	insertUnlessOverlapping(doc: T, field: keyof T & string, span: Span<T>): Promise<T>;
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
	 * now has the given version); of those, the `forward` ones (ISO times) never move back.
	 */
	putManyIfNewer(docs: (T & { version: string })[], always?: (keyof T & string)[], forward?: (keyof T & string)[]): Promise<Set<string>>;
	/** Writes each document unless the stored one's `field` is already `value`; the same guarantees. */
	putManyUnless(docs: (Partial<T> & { _id: string })[], field: keyof T & string, value: string): Promise<Set<string>>;
	/** Removes the documents whose `field` sorts before `value`; returns how many. */
	removeBefore(field: keyof T & string, value: string): Promise<number>;
	count(): Promise<number>;
}
