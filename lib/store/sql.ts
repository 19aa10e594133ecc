import type { Service, ServiceBroker } from "moleculer";
import SequelizeDbAdapter from "moleculer-db-adapter-sequelize";
import type { CursorOptions } from "moleculer-db-adapter-sequelize";
import { DataTypes, Op, Sequelize } from "sequelize";
import type { Model, ModelStatic, Transaction } from "sequelize";
import { retrying, RETRIES } from "../retry";
import type { Columns, Store } from "./store";

/** LIKE patterns take the search text literally. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, c => `\\${c}`);

/**
 * moleculer-db's Sequelize adapter on a table of our own definition, created on connect.
 * Two changes: `search` is a case-insensitive substring match with the text taken literally, as on
 * NeDB (the adapter's own is a case-sensitive LIKE that treats `%` and `_` as wildcards), and the
 * table creation is retried (`RETRIES.tableSync`), since two replicas starting together can race on CREATE TABLE.
 */
export class SqlAdapter extends SequelizeDbAdapter {
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
		const index = this.columns.index;
		this.model = this.db.define(this.table, this.columns(DataTypes), {
			tableName: this.table,
			timestamps: false,
			indexes: index ? [{ fields: index }] : []
		});
		await retrying(RETRIES.tableSync, () => this.model.sync());
		await this.addNewColumns();
	}

	/**
	 * A table an earlier version created gains the columns added since: `sync()` creates a missing
	 * table but never alters one. Only nullable columns (its rows have no value for them); `IF NOT
	 * EXISTS`, as replicas starting together race here.
	 */
	private async addNewColumns(): Promise<void> {
		const existing = await this.db.getQueryInterface().describeTable(this.table);
		for (const [name, column] of Object.entries(this.model.getAttributes())) {
			if (name in existing) continue;
			if (column.allowNull === false) throw new Error(`Table "${this.table}" lacks the required column "${name}": migrate it by hand`);
			const type = (column.type as { toSql(): string }).toSql();
			await this.db.query(`ALTER TABLE "${this.table}" ADD COLUMN IF NOT EXISTS "${name}" ${type}`);
			this.broker?.logger.info(`Table "${this.table}" gained column "${name}"`);
		}
	}

	/** Absent fields are absent, as on NeDB, not `null`. */
	override entityToObject(entity: Model): object {
		return Object.fromEntries(Object.entries(entity.get({ plain: true }) as object).filter(([, v]) => v !== null));
	}

	override createCursor(params: CursorOptions | undefined, isCounting?: boolean) {
		const cursor = super.createCursor.bind(this) as (p: object | undefined, counting?: boolean) => unknown;
		if (typeof params?.search !== "string" || params.search === "") return cursor(params, isCounting);
		const { search, searchFields, query, ...rest } = params;
		const fields: string[] = typeof searchFields === "string" ? searchFields.split(" ") : (searchFields ?? []);
		const match = { [Op.or]: fields.map(f => ({ [f]: { [Op.iLike]: `%${escapeLike(search)}%` } })) };
		return cursor({ ...rest, query: query ? { [Op.and]: [query, match] } : match }, isCounting);
	}
}

function hasNull(row: Record<string, unknown>): boolean {
	for (const key in row) if (row[key] === null) return true;
	return false;
}

/** PostgreSQL: the compare-and-set is one INSERT … ON CONFLICT … WHERE statement. */
export function sqlStore<T extends { _id: string }>(adapter: SqlAdapter, table: string): Store<T> {
	const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
	/** Each column's SQL type, for the arrays `upsert` binds (read once: the model is defined on connect). */
	let types: Map<string, string> | undefined;
	const typeOf = (column: string) =>
		(types ??= new Map(Object.entries(adapter.model.getAttributes()).map(([name, c]) => [name, (c.type as { toSql(): string }).toSql()]))).get(column);
	/**
	 * One INSERT … SELECT FROM UNNEST(<an array per column>) ON CONFLICT DO UPDATE [WHERE condition]
	 * … RETURNING: the ingest hot path writes a whole batch of reports in one round trip, with one
	 * parameter per column, not per value (a VALUES list of a placeholder per value cost a string per
	 * value to build and to bind, and a new statement text for every batch size). Resolves with the ids written.
	 * `newer`: update a row only with a later `version`, except the `always` columns, written
	 * whatever the version (then the ids resolved are those whose row now has the doc's version).
	 */
	async function upsert(
		docs: object[],
		how: { insertOnly?: true; condition?: (nextParam: number) => string; extra?: unknown[]; newer?: { always: string[]; forward: string[] } } = {}
	): Promise<Set<string>> {
		if (docs.length === 0) return new Set();
		const rows = [...docs] as Record<string, unknown>[];
		// Rows in id order: concurrent batches from several replicas then lock rows in the same
		// order and cannot deadlock (in arrival order they did, under a burst over few cans).
		rows.sort((a, b) => ((a._id as string) < (b._id as string) ? -1 : 1));
		// every field any doc has (a doc without one writes NULL there)
		const cols = [...new Set(rows.flatMap(d => Object.keys(d).filter(c => d[c] !== undefined)))];
		const newer = `(${q(table)}."version" IS NULL OR ${q(table)}."version" < EXCLUDED."version")`;
		const set = (c: string) =>
			how.newer?.forward.includes(c)
				? `${q(c)} = GREATEST(${q(table)}.${q(c)}, EXCLUDED.${q(c)})`
				: how.newer && !how.newer.always.includes(c)
					? `${q(c)} = CASE WHEN ${newer} THEN EXCLUDED.${q(c)} ELSE ${q(table)}.${q(c)} END`
					: `${q(c)} = EXCLUDED.${q(c)}`;
		const sql =
			`INSERT INTO ${q(table)} (${cols.map(q).join(", ")}) ` +
			`SELECT * FROM UNNEST(${cols.map((c, i) => `$${i + 1}::${typeOf(c)}[]`).join(", ")}) ` +
			(how.insertOnly
				? `ON CONFLICT ("_id") DO NOTHING`
				: `ON CONFLICT ("_id") DO UPDATE SET ${cols
						.filter(c => c !== "_id")
						.map(set)
						.join(", ")}` + (how.condition ? ` WHERE ${how.condition(cols.length + 1)}` : "")) +
			` RETURNING "_id"${how.newer ? `, "version"` : ""}`;
		const bind = [...cols.map(c => rows.map(d => d[c] ?? null)), ...(how.extra ?? [])];
		const [written] = (await adapter.db.query(sql, { bind })) as [{ _id: string; version?: string }[], unknown];
		if (!how.newer) return new Set(written.map(r => r._id));
		const versions = new Map(rows.map(d => [d._id as string, d.version]));
		return new Set(written.filter(r => r.version === versions.get(r._id)).map(r => r._id));
	}
	async function findOverlapping(field: string, value: string, span: { start: string; end: string }, from: string, to: string, transaction?: Transaction) {
		const [rows] = await adapter.db.query(
			`SELECT * FROM ${q(table)} WHERE ${q(field)} = $1 AND ${q(span.start)} < $3 AND ${q(span.end)} > $2 ORDER BY ${q(span.end)} LIMIT 1`,
			{ bind: [value, from, to], transaction }
		);
		return docsOf(rows as Record<string, unknown>[])[0] ?? null;
	}
	/** Raw rows as documents: absent fields absent, as on NeDB (only a row with a NULL is copied: a batch reads thousands). */
	const docsOf = (rows: Record<string, unknown>[]) =>
		rows.map(row => (hasNull(row) ? Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) : row) as T);
	return {
		// Reads are raw SQL: Sequelize's query building and model instances cost more than the
		// query itself (GET /levels reads two whole tables per request)
		get: async id => docsOf((await adapter.db.query(`SELECT * FROM ${q(table)} WHERE "_id" = $1`, { bind: [id] }))[0] as Record<string, unknown>[])[0] ?? null,
		getMany: async ids =>
			ids.length === 0
				? []
				: docsOf((await adapter.db.query(`SELECT * FROM ${q(table)} WHERE "_id" = ANY($1)`, { bind: [ids] }))[0] as Record<string, unknown>[]),
		async recent(field, values, order, { from, to, limit }) {
			if (values.length === 0) return [];
			const bind: unknown[] = [values, limit];
			const where = [`t.${q(field)} = v.value`];
			if (from != null) where.push(`t.${q(order)} >= $${bind.push(from)}`);
			if (to != null) where.push(`t.${q(order)} < $${bind.push(to)}`);
			// per value, a backward walk of the (field, order) index that stops after `limit` rows:
			// the cost does not grow with the table (a window function over it did)
			const sql =
				`SELECT r.* FROM unnest($1::text[]) AS v(value) CROSS JOIN LATERAL ` +
				`(SELECT * FROM ${q(table)} t WHERE ${where.join(" AND ")} ORDER BY t.${q(order)} DESC LIMIT $2) r ORDER BY r.${q(order)} DESC`;
			const [rows] = await adapter.db.query(sql, { bind });
			return docsOf(rows as Record<string, unknown>[]);
		},
		insertMany: docs => upsert(docs, { insertOnly: true }),
		overlapping: (field, value, span, from, to) => findOverlapping(field, value, span, from, to),
		// a transaction-scoped advisory lock per value: the second replica waits, then its SELECT
		// (a new snapshot, READ COMMITTED) sees the first one's row
		insertUnlessOverlapping: (doc, field, span) =>
			adapter.db.transaction(async transaction => {
				const d = doc as Record<string, unknown>;
				await adapter.db.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, { bind: [`${table}|${String(d[field])}`], transaction });
				const found = await findOverlapping(field, String(d[field]), span, String(d[span.start]), String(d[span.end]), transaction);
				if (found) return found;
				const cols = Object.keys(doc).filter(c => d[c] !== undefined);
				await adapter.db.query(
					`INSERT INTO ${q(table)} (${cols.map(q).join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")}) ON CONFLICT ("_id") DO NOTHING`,
					{
						bind: cols.map(c => d[c]),
						transaction
					}
				);
				return doc;
			}),
		removeWhere: (field, value) => adapter.model.destroy({ where: { [field]: value } }),
		all: async () => docsOf((await adapter.db.query(`SELECT * FROM ${q(table)}`))[0] as Record<string, unknown>[]),
		put: async doc => void (await upsert([doc])),
		putManyIfNewer: (docs, always = [], forward = []) =>
			always.length
				? upsert(docs, { newer: { always, forward } })
				: upsert(docs, { condition: () => `${q(table)}."version" IS NULL OR ${q(table)}."version" < EXCLUDED."version"` }),
		putManyUnless: (docs, field, value) => upsert(docs, { condition: next => `${q(table)}.${q(field)} IS DISTINCT FROM $${next}`, extra: [value] }),
		removeBefore: (field, value) => adapter.model.destroy({ where: { [field]: { [Op.lt]: value } } }),
		count: () => adapter.model.count()
	};
}
