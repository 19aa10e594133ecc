import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { DataTypes, StoresMixin } from "../mixins/db.mixin";
import type { Store } from "../mixins/db.mixin";
import { config } from "../lib/config";
import { Batcher } from "../lib/batcher";
import { busIdentity, Unparseable } from "../lib/channel-adapters";
import { byCanId, CHANNEL, checkReport, DEAD_LETTER_CHANNEL, reportParams, reportVersion } from "../lib/report";
import type { CanLevel, CheckResult, LevelReport } from "../lib/report";
import { CHANNEL_IN_FLIGHT } from "../moleculer.config";

export type ReportStatus = "accepted" | "applied" | "rejected";

export interface ReportRecord {
	id: string;
	status: ReportStatus;
	reason?: string;
	canId?: string;
	level?: number;
	reportedAt?: string;
	receivedAt: string;
	/** The node whose trashReport applied it (which replica did the work). */
	appliedBy?: string;
}

interface LevelDoc {
	_id: string;
	level: number;
	reportedAt: string;
	receivedAt: string;
	reportId: string;
	/** `reportVersion` of the report that set it: later versions win. */
	version: string;
}
interface ReportDoc extends Omit<ReportRecord, "id"> {
	_id: string;
}

export interface LevelsParams {
	min?: number;
	max?: number;
}

interface Counters {
	received: number;
	applied: number;
	duplicates: number;
	rejected: Record<string, number>;
}

/** What happened to reports, as Prometheus counters (summed over replicas by the dashboards). */
export const REPORT_METRICS = {
	received: "trash_reports_received_total",
	applied: "trash_reports_applied_total",
	duplicates: "trash_reports_duplicate_total",
	rejected: "trash_reports_rejected_total",
	level: "trash_can_level",
	fullCans: "trash_full_cans"
} as const;

interface TrashReportSettings extends ServiceSettingSchema {
	reportRetentionMs: number;
	/** Level (%) at or above which a can counts as full. */
	fullThreshold: number;
	/** How often the level and full-cans gauges are read from the store. */
	levelGaugesEveryMs: number;
}

/** A valid report waiting for its batch, and what became of it. */
interface Pending {
	report: LevelReport;
	receivedAt: string;
}
interface Applied {
	/** It set its can's level (the newest so far). */
	changed: boolean;
	/** It was not applied before (not a redelivery). */
	firstTime: boolean;
}

interface TrashReportVars {
	stores: { levels: Store<LevelDoc>; reports: Store<ReportDoc> };
	applier: Batcher<Pending, Applied>;
	counters: Counters;
	pruneTimer?: NodeJS.Timeout;
	gaugeTimer?: NodeJS.Timeout;
}

interface TrashReportMethods {
	checkStore(): Promise<void>;
	ingest(raw: unknown, fallback: { id: string; reportedAt: string }, ctx: Context): Promise<ReportStatus>;
	count(what: "received" | "applied" | "duplicates"): void;
	countRejected(reason: string): void;
	refreshLevelGauges(): Promise<void>;
	applyBatch(items: Pending[]): Promise<Applied[]>;
	setStatus(record: ReportRecord): Promise<void>;
	pruneReports(): Promise<number>;
}

const toLevel = (doc: LevelDoc): CanLevel => ({
	canId: doc._id,
	level: doc.level,
	reportedAt: doc.reportedAt,
	receivedAt: doc.receivedAt
});

const toRecord = ({ _id, ...rest }: ReportDoc): ReportRecord => ({ id: _id, ...rest });

/**
 * Durable ingest of trash-level reports: consumes the `trash-level` channel (group
 * "trashReport"), keeps the latest level per can, and records each report's status so a
 * redelivered report changes nothing and a producer can ask what became of its report.
 */
const TrashReportService: ServiceSchema<TrashReportSettings, TrashReportMethods, TrashReportVars> = {
	name: "trashReport",
	mixins: [
		StoresMixin({
			levels: {
				_id: { type: DataTypes.STRING(64), primaryKey: true },
				level: { type: DataTypes.DOUBLE, allowNull: false },
				reportedAt: { type: DataTypes.STRING(30), allowNull: false },
				receivedAt: { type: DataTypes.STRING(30), allowNull: false },
				reportId: { type: DataTypes.STRING(128), allowNull: false },
				version: { type: DataTypes.STRING(160), allowNull: false }
			},
			reports: {
				_id: { type: DataTypes.STRING(128), primaryKey: true },
				status: { type: DataTypes.STRING(10), allowNull: false },
				reason: DataTypes.TEXT,
				canId: DataTypes.STRING(64),
				level: DataTypes.DOUBLE,
				reportedAt: DataTypes.STRING(30),
				receivedAt: { type: DataTypes.STRING(30), allowNull: false },
				appliedBy: DataTypes.STRING(128)
			}
		})
	],
	settings: {
		reportRetentionMs: config.reportRetentionMs,
		fullThreshold: config.fullThreshold,
		levelGaugesEveryMs: 5_000
	},
	actions: {
		/** Accepts a report in the seed format, publishes it on the channel, answers 202 with its id. */
		report: {
			params: reportParams,
			async handler(ctx: Context<Record<string, unknown>, { $statusCode?: number; $responseHeaders?: Record<string, string> }>) {
				const receivedAt = new Date().toISOString();
				const checked = checkReport(ctx.params, { id: randomUUID(), reportedAt: receivedAt });
				if (!checked.ok) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", checked.errors);
				const { report } = checked;
				// Recorded before publishing, so a status lookup right after the 202 finds it.
				await this.setStatus({ id: report.id, status: "accepted", canId: report.canId, level: report.level, reportedAt: report.reportedAt, receivedAt });
				const message = { id: report.id, can_id: report.canId, level: report.level, reportedAt: report.reportedAt };
				// The bus may be electing a new stream leader (a NATS node just died): try for a
				// moment, then answer 503 (retry later) rather than 202 for a report nobody holds.
				for (let attempt = 1; ; attempt++) {
					try {
						// with ctx: the consumer logs under this request's id
						await this.broker.sendToChannel(CHANNEL, message, { ctx });
						break;
					} catch (err) {
						if (attempt < 4) {
							await new Promise(r => setTimeout(r, 250 * attempt));
							continue;
						}
						const reason = `Not queued: the bus did not take the report (${(err as Error).message}).`;
						this.countRejected("bus_unavailable");
						await this.setStatus({ id: report.id, status: "rejected", reason, receivedAt });
						throw new Errors.MoleculerRetryableError(reason, 503, "BUS_UNAVAILABLE", { id: report.id });
					}
				}
				ctx.meta.$statusCode = 202;
				// where to follow the report (moleculer-web sets $location only on 201 and 3xx)
				ctx.meta.$responseHeaders = { Location: `/reports/${encodeURIComponent(report.id)}` };
				return { id: report.id, status: "accepted" as const };
			}
		},

		/** Latest level of every can, sorted by can id, optionally only those within [min, max]. */
		levels: {
			params: {
				min: { type: "number", min: 0, max: 100, convert: true, optional: true },
				max: { type: "number", min: 0, max: 100, convert: true, optional: true },
				$$strict: "remove"
			},
			async handler(ctx: Context<LevelsParams>): Promise<CanLevel[]> {
				const { min = 0, max = 100 } = ctx.params;
				if (min > max) throw new Errors.ValidationError("'min' must not exceed 'max'.", "VALIDATION_ERROR", [{ type: "numberMax", field: "min", message: "The 'min' field must be less than or equal to 'max'.", expected: max, actual: min }]);
				const docs = await this.stores.levels.all();
				return docs.filter(d => d.level >= min && d.level <= max).map(toLevel).sort((a, b) => byCanId(a.canId, b.canId));
			}
		},

		/** Latest level of one can (404 when it never reported). */
		get: {
			params: { canId: { type: "string", min: 1, max: 64 } },
			async handler(ctx: Context<{ canId: string }>): Promise<CanLevel> {
				const doc = await this.stores.levels.get(ctx.params.canId);
				if (!doc) throw new Errors.MoleculerClientError(`Can '${ctx.params.canId}' has not reported.`, 404, "CAN_NOT_FOUND", { canId: ctx.params.canId });
				return toLevel(doc);
			}
		},

		/** What became of a report: accepted (queued), applied, or rejected with the reason. */
		status: {
			params: { id: { type: "string", min: 1, max: 128 } },
			async handler(ctx: Context<{ id: string }>): Promise<ReportRecord> {
				const doc = await this.stores.reports.get(ctx.params.id);
				if (!doc) throw new Errors.MoleculerClientError(`Report '${ctx.params.id}' is unknown (or older than the retention).`, 404, "REPORT_NOT_FOUND", { id: ctx.params.id });
				return toRecord(doc);
			}
		},

		/** Ingest counters since this process started (a snapshot: local callers get no live reference). */
		stats: {
			params: {},
			handler(): Counters {
				return structuredClone(this.counters);
			}
		},

		/** Readiness probe of the stores. */
		checkStore: {
			visibility: "public",
			params: {},
			async handler() {
				await this.checkStore();
				return { ok: true };
			}
		}
	},

	channels: {
		[CHANNEL]: {
			group: "trashReport",
			maxInFlight: CHANNEL_IN_FLIGHT,
			// A report that still fails after the handler's own retries goes back to the bus;
			// after this many deliveries the adapter moves it to the dead letters as it is.
			maxRetries: 10,
			deadLettering: { enabled: true, queueName: DEAD_LETTER_CHANNEL, exchangeName: DEAD_LETTER_CHANNEL },
			// A Context from the sender's headers (request id, caller); plain producers get a new one.
			context: true,
			async handler(ctx: Context<unknown>, raw: unknown) {
				const fallback = busIdentity(raw);
				this.count("received");
				// The store may be down for a moment: keep the message (unacked, so nothing is
				// lost) and try again, rather than bounce it through the bus at full speed.
				for (let attempt = 1; ; attempt++) {
					try {
						await this.ingest(ctx.params, fallback, ctx);
						return;
					} catch (err) {
						if (attempt >= 6 || !this.broker.started) throw err;
						this.logger.warn(`Ingest failed (attempt ${attempt}), retrying:`, (err as Error).message);
						// JetStream: still working on it, do not redeliver it elsewhere yet
						(raw as { working?: () => void } | null)?.working?.();
						await new Promise(r => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
					}
				}
			}
		}
	},

	methods: {
		/**
		 * Applies one raw report, once in effect however often it is delivered. Invalid reports are
		 * dead-lettered with the reason and never thrown, so the bus never redelivers them forever.
		 */
		async ingest(raw: unknown, fallback: { id: string; reportedAt: string }, ctx: Context): Promise<ReportStatus> {
			const receivedAt = new Date().toISOString();
			const checked: CheckResult =
				raw instanceof Unparseable
					? { ok: false, reason: "The report is not JSON.", errors: [{ type: "json", field: "body", message: "The report is not JSON." } as never] }
					: checkReport(raw, fallback);
			if (!checked.ok) {
				const reason = checked.reason;
				const key = checked.errors[0]?.field || "body";
				this.countRejected(key);
				// The dead letters keep what came and why, for whoever fixes the producer.
				await this.broker.sendToChannel(DEAD_LETTER_CHANNEL, {
					reason,
					field: key,
					report: raw instanceof Unparseable ? raw.text : raw,
					id: fallback.id,
					receivedAt
				}, { ctx });
				const id = (raw as { id?: unknown } | null)?.id;
				if (typeof id === "string" && id.length <= 128) await this.setStatus({ id, status: "rejected", reason, receivedAt });
				this.logger.warn(`Rejected report: ${reason}`);
				return "rejected";
			}
			const { changed, firstTime } = await this.applier.add({ report: checked.report, receivedAt });
			const { id, canId, level, reportedAt } = checked.report;
			if (!firstTime) {
				this.count("duplicates");
				this.logger.debug(`Report ${id} was applied before (redelivered)`);
				return "applied";
			}
			this.count("applied");
			this.logger.debug(`Applied report ${id}: can ${canId} at ${level}%${changed ? "" : " (an older report than the can's level)"}`);
			if (changed) ctx.broadcast("level.updated", { canId, level, reportedAt, receivedAt } satisfies CanLevel);
			return "applied";
		},

		/**
		 * Applies the valid reports in flight together: level first, then status, each one atomic
		 * multi-row statement and no read. A redelivered report is not newer than itself, so its level
		 * write changes nothing, and its status write finds it already applied (a duplicate). A crash
		 * between the two redelivers the report, which then completes the status.
		 */
		async applyBatch(items: Pending[]): Promise<Applied[]> {
			const newest = new Map<string, LevelDoc>();
			for (const { report, receivedAt } of items) {
				const doc = { _id: report.canId, level: report.level, reportedAt: report.reportedAt, receivedAt, reportId: report.id, version: reportVersion(report) };
				const other = newest.get(doc._id);
				if (!other || other.version < doc.version) newest.set(doc._id, doc);
			}
			const levelsWritten = await this.stores.levels.putManyIfNewer([...newest.values()]);

			const statuses = new Map<string, ReportDoc>();
			for (const { report, receivedAt } of items) {
				const { id, canId, level, reportedAt } = report;
				if (!statuses.has(id)) statuses.set(id, { _id: id, status: "applied", canId, level, reportedAt, receivedAt, appliedBy: this.broker.nodeID });
			}
			const firstTimes = await this.stores.reports.putManyUnless([...statuses.values()], "status", "applied");

			const claimed = new Set<string>(); // the same report twice in one batch: the second is a duplicate
			return items.map(({ report }) => {
				const firstTime = firstTimes.has(report.id) && !claimed.has(report.id);
				if (firstTime) claimed.add(report.id);
				const changed = firstTime && levelsWritten.has(report.canId) && newest.get(report.canId)!.reportId === report.id;
				return { changed, firstTime };
			});
		},

		count(what: "received" | "applied" | "duplicates") {
			this.counters[what]++;
			if (this.broker.isMetricsEnabled()) this.broker.metrics.increment(REPORT_METRICS[what]);
		},

		/** `reason`: the report's field that failed (`level`, `can_id`, `body`…) or `bus_unavailable`. */
		countRejected(reason: string) {
			this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1;
			if (this.broker.isMetricsEnabled()) this.broker.metrics.increment(REPORT_METRICS.rejected, { reason });
		},

		/**
		 * Sets the level and full-cans gauges from the store, which every replica shares: each
		 * shows every can, whichever replica applied its report. Read every few seconds (the
		 * scrape interval) rather than followed per report, which cost every replica a message per
		 * report of the others.
		 */
		async refreshLevelGauges() {
			const levels = await this.stores.levels.all();
			for (const { _id, level } of levels) this.broker.metrics.set(REPORT_METRICS.level, level, { can_id: _id });
			this.broker.metrics.set(REPORT_METRICS.fullCans, levels.filter(l => l.level >= this.settings.fullThreshold).length);
		},

		async setStatus({ id, ...fields }: ReportRecord): Promise<void> {
			await this.stores.reports.put({ _id: id, ...fields });
		},

		/** Forgets report statuses older than the retention (the bus keeps undelivered ones as long). */
		async pruneReports(): Promise<number> {
			const cutoff = new Date(Date.now() - this.settings.reportRetentionMs).toISOString();
			return this.stores.reports.removeBefore("receivedAt", cutoff);
		}
	},

	created() {
		this.applier = new Batcher(items => this.applyBatch(items), 256);
		this.counters = { received: 0, applied: 0, duplicates: 0, rejected: {} };
		if (this.broker.isMetricsEnabled()) {
			const m = this.broker.metrics;
			m.register({ type: "counter", name: REPORT_METRICS.received, description: "Report deliveries taken from the bus (redeliveries too)" });
			m.register({ type: "counter", name: REPORT_METRICS.applied, description: "Reports applied for the first time" });
			m.register({ type: "counter", name: REPORT_METRICS.duplicates, description: "Redelivered reports that were applied before (no effect)" });
			m.register({ type: "counter", name: REPORT_METRICS.rejected, labelNames: ["reason"], description: "Reports rejected, by the field that failed or bus_unavailable" });
			m.register({ type: "gauge", name: REPORT_METRICS.level, labelNames: ["can_id"], description: "Latest fill level of each can (%)" });
			m.register({ type: "gauge", name: REPORT_METRICS.fullCans, description: "Cans at or above FULL_THRESHOLD" });
			// zeroes, so a dashboard shows 0 rather than "no data" before the first report
			for (const what of ["received", "applied", "duplicates"] as const) m.increment(REPORT_METRICS[what], undefined, 0);
			m.set(REPORT_METRICS.fullCans, 0);
		}
	},

	started() {
		if (this.broker.isMetricsEnabled()) {
			const refresh = () => this.refreshLevelGauges().catch(err => this.logger.warn("Reading the levels for the gauges failed:", (err as Error).message));
			void refresh();
			this.gaugeTimer = setInterval(refresh, this.settings.levelGaugesEveryMs);
			this.gaugeTimer.unref();
		}

		const every = Math.min(Math.max(this.settings.reportRetentionMs / 4, 1_000), 5 * 60_000);
		this.pruneTimer = setInterval(() => {
			this.pruneReports().catch(err => this.logger.warn("Pruning report statuses failed", err));
		}, every);
		this.pruneTimer.unref();
	},

	stopped() {
		clearInterval(this.pruneTimer);
		clearInterval(this.gaugeTimer);
	}
};

export default TrashReportService;
