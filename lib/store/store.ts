import type { DataTypes, ModelAttributes } from "sequelize";

/**
 * A table's columns, for SQL stores (NeDB is schemaless and ignores them): a function of
 * Sequelize's `DataTypes`, called only where a SQL store is made, so that a process on NeDB
 * never loads Sequelize.
 */
export type Columns = (types: typeof DataTypes) => ModelAttributes;

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
