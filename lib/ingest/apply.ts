/**
 * Applying valid reports to the store, a batch at a time: keep every report in its can's history,
 * work out each touched can's fill cycle and trend from its recent history (lib/fleet/forecast),
 * raise the alerts the batch caused, write the newest level per can with one compare-and-set,
 * then the reports' statuses with another.
 * Exactly once in effect: a redelivered report is already in the history (keyed by report id),
 * is not newer than itself, so its level write changes nothing, and its status write finds it
 * already applied (a duplicate). A crash before the statuses redelivers the report, which then
 * raises its alerts again with the same ids (the alert consumers deduplicate) and completes.
 */
import pLimit from "p-limit";
import type { CanAlert, CanLevel, ReportRecord } from "../contracts";
import { alertId } from "../fleet/alerts";
import { canState, cycles, emptyings, fullAt, fullSince, timeline, trend } from "../fleet/forecast";
import type { Emptying, Point } from "../fleet/forecast";
import { indexed } from "../store";
import type { Columns, Store } from "../store";
import { byCanId, reportTimeMs, reportVersion } from "./report";
import type { LevelReport } from "./report";

/** A can's latest level and what its history says about it (worked out when the level was written). */
export interface LevelDoc {
	_id: string;
	level: number;
	reportedAt: string;
	receivedAt: string;
	reportId: string;
	/** `reportVersion` of the report that set it: later versions win. */
	version: string;
	/** The trend (lib/fleet/forecast) of the current fill cycle: % per hour, its level at `trendAt`. */
	fillRate?: number;
	trendLevel?: number;
	trendAt?: string;
	/** When the current fill cycle began: the last emptying, or the can's first report. */
	cycleStartedAt?: string;
	/** When the cycle reached the can's threshold. */
	fullSince?: string;
	lastEmptiedAt?: string;
}

export interface ReportDoc extends Omit<ReportRecord, "id"> {
	_id: string;
}

/** One applied report of a can's history, keyed by report id. */
export interface HistoryDoc {
	_id: string;
	canId: string;
	level: number;
	reportedAt: string;
}

/** A can's registration (`PUT /cans/:canId`). */
export interface CanDoc {
	_id: string;
	name?: string;
	lat?: number;
	lon?: number;
	capacityLitres?: number;
	wasteKind?: string;
	fullThreshold?: number;
}

/** An emptying, keyed `<canId>|<emptiedAt>`: the drop from the report at `fromAt` to the one at `emptiedAt`. */
export interface CollectionDoc {
	_id: string;
	canId: string;
	fromAt: string;
	emptiedAt: string;
	levelBefore: number;
	levelAfter: number;
}

export interface IngestStores {
	levels: Store<LevelDoc>;
	reports: Store<ReportDoc>;
	history: Store<HistoryDoc>;
	cans: Store<CanDoc>;
	collections: Store<CollectionDoc>;
}

/** The tables of `IngestStores` (SQL; NeDB ignores the columns and indexes the first `index` field). */
export const INGEST_TABLES: Record<keyof IngestStores, Columns> = {
	levels: DataTypes => ({
		_id: { type: DataTypes.STRING(64), primaryKey: true },
		level: { type: DataTypes.DOUBLE, allowNull: false },
		reportedAt: { type: DataTypes.STRING(30), allowNull: false },
		receivedAt: { type: DataTypes.STRING(30), allowNull: false },
		reportId: { type: DataTypes.STRING(128), allowNull: false },
		version: { type: DataTypes.STRING(160), allowNull: false },
		fillRate: DataTypes.DOUBLE,
		trendLevel: DataTypes.DOUBLE,
		trendAt: DataTypes.STRING(30),
		cycleStartedAt: DataTypes.STRING(30),
		fullSince: DataTypes.STRING(30),
		lastEmptiedAt: DataTypes.STRING(30)
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
	}),
	history: indexed(
		DataTypes => ({
			_id: { type: DataTypes.STRING(128), primaryKey: true },
			canId: { type: DataTypes.STRING(64), allowNull: false },
			level: { type: DataTypes.DOUBLE, allowNull: false },
			reportedAt: { type: DataTypes.STRING(30), allowNull: false }
		}),
		["canId", "reportedAt"]
	),
	cans: DataTypes => ({
		_id: { type: DataTypes.STRING(64), primaryKey: true },
		name: DataTypes.STRING(100),
		lat: DataTypes.DOUBLE,
		lon: DataTypes.DOUBLE,
		capacityLitres: DataTypes.DOUBLE,
		wasteKind: DataTypes.STRING(40),
		fullThreshold: DataTypes.DOUBLE
	}),
	collections: indexed(
		DataTypes => ({
			_id: { type: DataTypes.STRING(100), primaryKey: true },
			canId: { type: DataTypes.STRING(64), allowNull: false },
			fromAt: { type: DataTypes.STRING(30), allowNull: false },
			emptiedAt: { type: DataTypes.STRING(30), allowNull: false },
			levelBefore: { type: DataTypes.DOUBLE, allowNull: false },
			levelAfter: { type: DataTypes.DOUBLE, allowNull: false }
		}),
		["canId", "emptiedAt"]
	)
};

/** What the analytics need to know. */
export interface FleetSettings {
	/** FULL_THRESHOLD, for cans without their own. */
	fullThreshold: number;
	emptiedDrop: number;
	overfullAfterMs: number;
}

/** The fields of a level worked out from the history rather than taken from the report. */
const DERIVED = ["fillRate", "trendLevel", "trendAt", "cycleStartedAt", "fullSince", "lastEmptiedAt"] as const;

/** How many of a can's newest reports its cycle and trend are worked out from. */
export const TREND_WINDOW = 40;

/** How many reports of a can a batch holding older ones reads in one piece, at most (`applyBatch`). */
export const REACH = 2_000;

/**
 * How many of a batch's cans with older reports are read in one piece at once: a killed consumer's
 * batch comes back with older reports of every can it held (a thousand in a backlog), each can's
 * piece up to REACH rows; read all at once they would not fit the process's heap.
 */
const WIDE_READS = 4;

/** A valid report waiting for its batch. */
export interface Pending {
	report: LevelReport;
	receivedAt: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A can's threshold: its own, or FULL_THRESHOLD. */
export const thresholdOf = (can: CanDoc | null | undefined, settings: Pick<FleetSettings, "fullThreshold">) => can?.fullThreshold ?? settings.fullThreshold;

/** A level with its forecast, for a threshold (it may have changed since the level was written) and a time. */
export function toLevel(doc: LevelDoc, threshold: number, settings: FleetSettings, nowMs = Date.now()): CanLevel {
	const full = doc.level >= threshold;
	const filling = doc.fillRate != null && doc.trendLevel != null && doc.trendAt != null;
	const at = full
		? (doc.fullSince ?? doc.reportedAt)
		: filling
			? fullAt({ rate: doc.fillRate!, level: doc.trendLevel!, at: Date.parse(doc.trendAt!) }, threshold)
			: null;
	return {
		canId: doc._id,
		level: doc.level,
		reportedAt: doc.reportedAt,
		receivedAt: doc.receivedAt,
		fillRate: doc.fillRate == null ? null : Math.round(doc.fillRate * 1000) / 1000,
		fullAt: at == null ? null : typeof at === "string" ? at : iso(at),
		state: canState(doc.level, threshold, full ? Date.parse(doc.fullSince ?? doc.reportedAt) : null, nowMs, settings.overfullAfterMs)
	};
}

let lastView: { levels: readonly LevelDoc[]; cans: readonly CanDoc[]; second: number; view: readonly CanLevel[] } | null = null;
/**
 * Every can's level with its forecast, sorted by can id. A store that keeps its last read (NeDB)
 * answers every `GET /levels` until the next write with the same arrays: then the view is worked
 * out once a second (a state can turn overfull with time alone). Frozen, as every caller shares it.
 */
export function levelsView(levels: readonly LevelDoc[], cans: readonly CanDoc[], settings: FleetSettings, nowMs = Date.now()): readonly CanLevel[] {
	const second = Math.floor(nowMs / 1000);
	if (lastView && lastView.levels === levels && lastView.cans === cans && lastView.second === second) return lastView.view;
	const registry = new Map(cans.map(c => [c._id, c]));
	const view = Object.freeze(
		levels.map(doc => Object.freeze(toLevel(doc, thresholdOf(registry.get(doc._id), settings), settings, nowMs))).sort((a, b) => byCanId(a.canId, b.canId))
	);
	lastView = { levels, cans, second, view };
	return view;
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

/** What became of one report of a batch. */
export interface Applied {
	/** It set its can's level (the newest so far). */
	changed: boolean;
	/** It was not applied before (not a redelivery). */
	firstTime: boolean;
	/** The can's level with its forecast, when `changed`. */
	level?: CanLevel;
}

export interface ApplyOptions {
	/** The node doing it (`appliedBy`). */
	appliedBy: string;
	settings: FleetSettings;
	/** Publishes alerts durably (before the reports are acked); may get the same alert again after a crash. */
	raise: (alerts: CanAlert[]) => Promise<void>;
	/** The registrations of these cans (for their thresholds); read from the store when not given. */
	registry?: (canIds: string[]) => Promise<CanDoc[]>;
}

const alert = (type: CanAlert["type"], canId: string, key: string, at: string, level: number, fullThreshold: number): CanAlert => ({
	id: alertId(type, canId, key),
	type,
	canId,
	at,
	level,
	fullThreshold
});

/** One of this batch's reports is on either side of the drop. */
const touches = (d: Emptying, batchIds: Set<string>) => batchIds.has(d.fromId) || batchIds.has(d.atId);

/**
 * The first report at or above the threshold of each cycle (`parts`, cut at `drops`), when this
 * batch has a say in it: the report is its own, or one on either side of the drop the cycle began
 * with. A batch holding the crossing but not the drop may have read the can while the drop's
 * reports were still on their way (another consumer's, or a killed one's coming back): then it
 * saw one long cycle, full already. Of two batches the one that reads last sees both (each writes
 * its reports before it reads), so the drop's batch raises the cycle's can.full too: the same id.
 */
const crossingsIn = (parts: Point[][], drops: Emptying[], threshold: number, batchIds: Set<string>) =>
	parts.map((part, i) => {
		const at = fullSince(part, threshold);
		const crossing = at == null ? undefined : part.find(p => p.at === at);
		return crossing && (batchIds.has(crossing.id) || (i > 0 && touches(drops[i - 1], batchIds))) ? crossing : undefined;
	});

/**
 * The time each emptying of `drops` is known by. Reports that arrive out of order can show one
 * collection first as a drop to one report, then (once an earlier report arrives) to another: the
 * first time it was recorded stays its name, so it is one collection, one `can.emptied`, and its
 * cycle one `can.full`. Only the drops that `matter` are named: those to this batch's reports,
 * those whose cycle this batch filled, and the last one (the current cycle's start).
 */
async function emptyingTimes(
	stores: IngestStores,
	canId: string,
	drops: Emptying[],
	before: LevelDoc | undefined,
	matters: (i: number) => boolean
): Promise<Map<number, string>> {
	const known = new Map<number, string>();
	const span = { start: "fromAt", end: "emptiedAt" } as const;
	for (const [i, d] of drops.entries()) {
		if (!matters(i)) continue;
		// The same collection, recorded through other reports: its drop overlaps this one. (A later
		// collection does not: it follows a refill, after this drop's report.)
		const [from, to] = [iso(d.from), iso(d.at)];
		// usually the stored level names it already
		const last = before?.lastEmptiedAt;
		if (last != null && last > from && last <= to) {
			known.set(d.at, last);
			continue;
		}
		// else record it, unless it is recorded: atomically, as replicas race here, so that every
		// batch that needs its name (for its can.emptied, or its cycle's can.full) gets the same one
		const doc = { _id: `${canId}|${to}`, canId, fromAt: from, emptiedAt: to, levelBefore: d.levelBefore, levelAfter: d.levelAfter };
		known.set(d.at, (await stores.collections.insertUnlessOverlapping(doc, "canId", span)).emptiedAt);
	}
	return known;
}

/**
 * The key of a can's first fill cycle in its `can.full` id (`can.full:<canId>:first`): the cycle
 * with no collection before it. Every later cycle is keyed by the collection that began it. Not
 * by its first report's time: which report is first depends on the order they arrive in, and a
 * window that does not reach back to it cannot tell.
 */
export const FIRST_CYCLE = "first";

/** When a cycle began, and its key in its `can.full` id. */
interface CycleStart {
	at: string | undefined;
	key: string | undefined;
}

/**
 * When the oldest cycle of a can's window began (it began before the window), and its key. The
 * start is where the stored level says, when the level can be trusted (`trustStored`: this batch
 * recorded no collection before the window) and the key is not needed. Otherwise both come from the
 * collection before the window, or there is none: the can's first cycle (which began where the
 * stored level's cycle did while the can was never emptied, else at a report the window may not reach).
 */
async function oldestStart(
	stores: IngestStores,
	canId: string,
	points: Point[],
	drops: Emptying[],
	before: LevelDoc | undefined,
	needed: boolean,
	trustStored: boolean
): Promise<CycleStart> {
	const first = points.length ? iso(points[0].at) : undefined;
	const stored = before?.cycleStartedAt;
	const last = points.length ? iso(points.at(-1)!.at) : undefined;
	const fits = stored != null && last != null && stored <= last && (drops.length === 0 || stored <= iso(drops[0].from));
	if (!needed && trustStored) return { at: stored ?? first, key: undefined };
	if (!first) return { at: stored, key: undefined };
	// A key is looked up, not taken from the stored level: that may predate a collection this batch
	// (or one running beside it) has just recorded. By where its drop began, not by its name: a
	// collection recorded while reports were missing is named after a later report than the one it
	// emptied to, which may be inside this window.
	const [previous] = await stores.collections.recent("canId", [canId], "fromAt", { to: first, limit: 1 });
	if (previous) return { at: fits && stored > previous.emptiedAt ? stored : previous.emptiedAt, key: previous.emptiedAt };
	return { at: (before?.lastEmptiedAt == null ? stored : undefined) ?? first, key: FIRST_CYCLE };
}

/**
 * A touched can's cycle, trend and the alerts of `batchIds`' reports, from its recent history in
 * time order cut into cycles, its emptyings' known times, when the oldest cycle of the window
 * began (`oldestStart`) and the level stored before this batch.
 * A batch can hold reports of several cycles of a can: each cycle it filled raises its `can.full`.
 */
export function analyse(
	canId: string,
	points: Point[],
	drops: Emptying[],
	known: Map<number, string>,
	oldest: CycleStart,
	before: LevelDoc | undefined,
	threshold: number,
	batchIds: Set<string>
) {
	const parts = cycles(points, drops);
	const knownAs = (d: Emptying) => known.get(d.at) ?? iso(d.at);
	const startOf = (i: number) => (i > 0 ? knownAs(drops[i - 1]) : oldest.at);
	const keyOf = (i: number) => (i > 0 ? knownAs(drops[i - 1]) : oldest.key);
	const current = parts.at(-1)!;
	const cycleStartedAt = startOf(parts.length - 1);
	// (the last TREND_WINDOW reports, also when the window was read further back for a key)
	const t = trend(current.slice(-TREND_WINDOW));
	const full = fullSince(current, threshold);
	const alerts: CanAlert[] = [];
	// (either side: without the report before the drop another batch may have seen no drop)
	for (const d of drops) {
		if (!touches(d, batchIds)) continue;
		const emptiedAt = knownAs(d);
		alerts.push(alert("can.emptied", canId, emptiedAt, emptiedAt, d.levelAfter, threshold));
	}
	// once per fill cycle: the id is the cycle's, whichever report crossed first
	for (const [i, crossing] of crossingsIn(parts, drops, threshold, batchIds).entries()) {
		const key = keyOf(i);
		if (crossing && key) alerts.push(alert("can.full", canId, key, iso(crossing.at), crossing.level, threshold));
	}
	const derived: Partial<LevelDoc> = {
		fillRate: t?.rate,
		trendLevel: t?.level,
		trendAt: t ? iso(t.at) : undefined,
		cycleStartedAt,
		fullSince: full == null ? undefined : iso(full),
		// (a looked-up collection the window starts after is one too; the write never moves it back)
		lastEmptiedAt: drops.length ? knownAs(drops.at(-1)!) : ((oldest.key !== FIRST_CYCLE ? oldest.key : undefined) ?? before?.lastEmptiedAt)
	};
	return { derived, alerts };
}

const toPoint = (h: HistoryDoc): Point => ({ id: h._id, level: h.level, at: reportTimeMs(h.reportedAt) });

/**
 * The cycle, trend and alerts of a window of a can's history (`points`, in time order), for the
 * reports `batchIds`. `current`: the window ends at the can's newest report, so its last cycle is
 * the current one (its start is named, and what it says is written to the level).
 */
async function analyseWindow(
	stores: IngestStores,
	canId: string,
	points: Point[],
	batchIds: Set<string>,
	before: LevelDoc | undefined,
	threshold: number,
	settings: FleetSettings,
	current: boolean,
	trustStored = true
) {
	let drops = emptyings(points, settings.emptiedDrop);
	let crossings = crossingsIn(cycles(points, drops), drops, threshold, batchIds);
	// Two things the window cannot tell from its own points, for which one more window back is read:
	//  - a crossing in its oldest cycle would be keyed by the collection recorded before the window,
	//    but the consumer holding the emptying may not have recorded it yet: the drop shows in the
	//    history itself (every consumer writes its reports before it reads), and whichever consumer
	//    sees it first records it, under the name the other then finds;
	//  - whether the window's oldest point, when it is this batch's, is a drop (a batch holding a
	//    whole window of the can: a deep prefetch in a burst).
	if ((crossings[0] != null || batchIds.has(points[0]?.id)) && points.length >= TREND_WINDOW) {
		const older = await stores.history.recent("canId", [canId], "reportedAt", { to: iso(points[0].at), limit: TREND_WINDOW });
		points = timeline([...older.map(toPoint), ...points]);
		drops = emptyings(points, settings.emptiedDrop);
		crossings = crossingsIn(cycles(points, drops), drops, threshold, batchIds);
	}
	const matters = (i: number) => (current && i === drops.length - 1) || touches(drops[i], batchIds) || crossings[i + 1] != null;
	const [known, start] = await Promise.all([
		drops.length ? emptyingTimes(stores, canId, drops, before, matters) : new Map<number, string>(),
		oldestStart(stores, canId, points, drops, before, crossings[0] != null, trustStored)
	]);
	return analyse(canId, points, drops, known, start, before, threshold, batchIds);
}

/**
 * The alerts of a can's reports that are older than its window: each from the TREND_WINDOW reports
 * up to it (a drop to it, or its cycle's first crossing, needs nothing after it). Their ids are the
 * ones the batch that should have raised them would have used, so a repeat is deduplicated.
 */
async function lateAlerts(stores: IngestStores, canId: string, late: HistoryDoc[], before: LevelDoc | undefined, threshold: number, settings: FleetSettings) {
	const alerts: CanAlert[] = [];
	let rest = [...late].sort((a, b) => (a.reportedAt < b.reportedAt ? 1 : a.reportedAt > b.reportedAt ? -1 : 0));
	while (rest.length) {
		const around = await stores.history.recent("canId", [canId], "reportedAt", { to: iso(reportTimeMs(rest[0].reportedAt) + 1), limit: TREND_WINDOW });
		const points = timeline(around.map(toPoint));
		const covered = new Set(points.map(p => p.id));
		const ids = new Set(rest.filter(h => covered.has(h._id)).map(h => h._id));
		if (ids.size) alerts.push(...(await analyseWindow(stores, canId, points, ids, before, threshold, settings, false)).alerts);
		// one more read for the reports further back (rest[0] is always covered: it is the newest up to its time)
		rest = rest.filter(h => !covered.has(h._id) && h !== rest[0]);
	}
	return alerts;
}

/** Applies a batch (a few multi-row statements and one read per table, not per report). */
export async function applyBatch(stores: IngestStores, items: Pending[], { appliedBy, settings, raise, registry: read }: ApplyOptions): Promise<Applied[]> {
	const history = new Map<string, HistoryDoc>();
	for (const { report } of items) history.set(report.id, { _id: report.id, canId: report.canId, level: report.level, reportedAt: report.reportedAt });
	await stores.history.insertMany([...history.values()]);

	const newest = newestPerCan(items);
	const touched = [...newest.keys()];
	const [recent, registered, stored] = await Promise.all([
		stores.history.recent("canId", touched, "reportedAt", { limit: TREND_WINDOW }),
		read ? read(touched) : stores.cans.getMany(touched),
		stores.levels.getMany(touched)
	]);
	const registry = new Map(registered.map(c => [c._id, c]));
	const before = new Map(stored.map(l => [l._id, l]));
	const byCan = Map.groupBy(recent, h => h.canId);
	const batchOf = Map.groupBy(history.values(), h => h.canId);
	const alerts: CanAlert[] = [];
	const wide = pLimit(WIDE_READS);
	const analyseCan = async (canId: string, doc: LevelDoc, window: Point[], mine: HistoryDoc[], late: HistoryDoc[]) => {
		const threshold = thresholdOf(registry.get(canId), settings);
		let points = window;
		let far: HistoryDoc[] = [];
		if (late.length) {
			const oldest = late.reduce((min, h) => (h.reportedAt < min ? h.reportedAt : min), late[0].reportedAt);
			const [between, preceding] = await Promise.all([
				stores.history.recent("canId", [canId], "reportedAt", { from: oldest, to: iso(points[0].at + 1), limit: REACH }),
				stores.history.recent("canId", [canId], "reportedAt", { to: oldest, limit: TREND_WINDOW })
			]);
			const covered = between.length < REACH;
			points = timeline([...(covered ? preceding : []), ...between].map(toPoint).concat(points));
			const read = new Set(points.map(p => p.id));
			far = late.filter(h => !read.has(h._id));
		}
		// Further back than REACH: their alerts from their own neighbourhood (a drop beside one of
		// them whose cycle filled beyond it is not seen). First, as they may record a collection
		// that the window's oldest cycle began with: the stored level predates it.
		if (far.length) alerts.push(...(await lateAlerts(stores, canId, far, before.get(canId), threshold, settings)));
		const ids = new Set(mine.map(h => h._id));
		const analysed = await analyseWindow(stores, canId, points, ids, before.get(canId), threshold, settings, true, late.length === 0);
		Object.assign(doc, analysed.derived);
		alerts.push(...analysed.alerts);
	};
	await Promise.all(
		[...newest].map(([canId, doc]) => {
			const window = timeline((byCan.get(canId) ?? []).map(toPoint));
			const mine = batchOf.get(canId)!;
			// Reports older than the window (redelivered long after, or just late, or more of the can
			// than the window holds): the can is read from just before the oldest of them on, in one
			// piece, as what they change may show only later (the drop one of them is beside, the
			// can.full of the cycle after it); else a report whose consumer died before raising its
			// alerts would never raise them. A few such cans at a time (WIDE_READS).
			const inWindow = new Set(window.map(p => p.id));
			const late = mine.filter(h => !inWindow.has(h._id));
			return late.length ? wide(() => analyseCan(canId, doc, window, mine, late)) : analyseCan(canId, doc, window, mine, late);
		})
	);
	// published before the statuses: a crash in between raises them again, never loses them
	// (once each: a late report's neighbourhood and the window may both show the same drop)
	if (alerts.length) await raise([...new Map(alerts.map(a => [a.id, a])).values()]);
	// A late report does not set the level, but it is a point of its cycle: the trend takes it in.
	// (the cycle's start and the last emptying only move forward: a stale batch does not undo a newer one's)
	const levelsWritten = await stores.levels.putManyIfNewer([...newest.values()], [...DERIVED], ["cycleStartedAt", "lastEmptiedAt"]);

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
		const doc = newest.get(report.canId)!;
		const changed = firstTime && levelsWritten.has(report.canId) && doc.reportId === report.id;
		return changed ? { changed, firstTime, level: toLevel(doc, thresholdOf(registry.get(report.canId), settings), settings) } : { changed, firstTime };
	});
}
