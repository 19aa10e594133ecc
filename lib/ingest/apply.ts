/**
 * Applying valid reports to the store, a batch at a time: reduce the batch to the newest report
 * per can, write those levels with one compare-and-set, then the reports' statuses with another.
 * Exactly once in effect: a redelivered report is not newer than itself, so its level write
 * changes nothing, and its status write finds it already applied (a duplicate). A crash between
 * the two redelivers the report, which then completes the status.
 */
import type { CanLevel, ReportRecord } from "../contracts";
import type { Columns, Store } from "../store";
import { byCanId, reportVersion } from "./report";
import type { LevelReport } from "./report";

export interface LevelDoc {
	_id: string;
	level: number;
	reportedAt: string;
	receivedAt: string;
	reportId: string;
	/** `reportVersion` of the report that set it: later versions win. */
	version: string;
}

export interface ReportDoc extends Omit<ReportRecord, "id"> {
	_id: string;
}

export interface IngestStores {
	levels: Store<LevelDoc>;
	reports: Store<ReportDoc>;
}

/** The tables of `IngestStores` (SQL; NeDB ignores them). */
export const INGEST_TABLES: Record<keyof IngestStores, Columns> = {
	levels: DataTypes => ({
		_id: { type: DataTypes.STRING(64), primaryKey: true },
		level: { type: DataTypes.DOUBLE, allowNull: false },
		reportedAt: { type: DataTypes.STRING(30), allowNull: false },
		receivedAt: { type: DataTypes.STRING(30), allowNull: false },
		reportId: { type: DataTypes.STRING(128), allowNull: false },
		version: { type: DataTypes.STRING(160), allowNull: false }
	}),
	reports: DataTypes => ({
		_id: { type: DataTypes.STRING(128), primaryKey: true },
		status: { type: DataTypes.STRING(10), allowNull: false },
		reason: DataTypes.TEXT,
		canId: DataTypes.STRING(64),
		level: DataTypes.DOUBLE,
		reportedAt: DataTypes.STRING(30),
		receivedAt: { type: DataTypes.STRING(30), allowNull: false },
		appliedBy: DataTypes.STRING(128)
	})
};

/** A valid report waiting for its batch. */
export interface Pending {
	report: LevelReport;
	receivedAt: string;
}

/** What became of one report of a batch. */
export interface Applied {
	/** It set its can's level (the newest so far). */
	changed: boolean;
	/** It was not applied before (not a redelivery). */
	firstTime: boolean;
}

export const toLevel = (doc: LevelDoc): CanLevel => ({
	canId: doc._id,
	level: doc.level,
	reportedAt: doc.reportedAt,
	receivedAt: doc.receivedAt,
	fillRate: null,
	fullAt: null,
	state: "normal"
});

const sorted = new WeakMap<readonly LevelDoc[], readonly CanLevel[]>();
/**
 * The levels of `docs` sorted by can id, worked out once per array: a store that keeps its last
 * read (NeDB) answers every `GET /levels` until the next write with the same one. Frozen, as
 * every caller shares them.
 */
export function sortedLevels(docs: readonly LevelDoc[]): readonly CanLevel[] {
	let levels = sorted.get(docs);
	if (!levels) sorted.set(docs, (levels = Object.freeze(docs.map(doc => Object.freeze(toLevel(doc))).sort((a, b) => byCanId(a.canId, b.canId)))));
	return levels;
}

export const toRecord = ({ _id, ...rest }: ReportDoc): ReportRecord => ({ id: _id, ...rest });

/** The newest report of each can in `items`, as the level it sets. */
export function newestPerCan(items: Pending[]): Map<string, LevelDoc> {
	const newest = new Map<string, LevelDoc>();
	for (const { report, receivedAt } of items) {
		const doc = { _id: report.canId, level: report.level, reportedAt: report.reportedAt, receivedAt, reportId: report.id, version: reportVersion(report) };
		const other = newest.get(doc._id);
		if (!other || other.version < doc.version) newest.set(doc._id, doc);
	}
	return newest;
}

/** Applies a batch (two multi-row statements, no read); `appliedBy` is the node doing it. */
export async function applyBatch(stores: IngestStores, items: Pending[], appliedBy: string): Promise<Applied[]> {
	const newest = newestPerCan(items);
	const levelsWritten = await stores.levels.putManyIfNewer([...newest.values()]);

	const statuses = new Map<string, ReportDoc>();
	for (const { report, receivedAt } of items) {
		const { id, canId, level, reportedAt } = report;
		if (!statuses.has(id)) statuses.set(id, { _id: id, status: "applied", canId, level, reportedAt, receivedAt, appliedBy });
	}
	const firstTimes = await stores.reports.putManyUnless([...statuses.values()], "status", "applied");

	const claimed = new Set<string>(); // the same report twice in one batch: the second is a duplicate
	return items.map(({ report }) => {
		const firstTime = firstTimes.has(report.id) && !claimed.has(report.id);
		if (firstTime) claimed.add(report.id);
		const changed = firstTime && levelsWritten.has(report.canId) && newest.get(report.canId)!.reportId === report.id;
		return { changed, firstTime };
	});
}
