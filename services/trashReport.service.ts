import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { CHANNEL_IN_FLIGHT } from "../lib/bus";
import { config } from "../lib/config";
import type { CanLevel, IngestStats, LevelsParams, ReportRecord, ReportStatus } from "../lib/contracts";
import { applyBatch, INGEST_TABLES, sortedLevels, toLevel, toRecord } from "../lib/ingest/apply";
import type { Applied, IngestStores, Pending } from "../lib/ingest/apply";
import { Batcher } from "../lib/ingest/batcher";
import { busIdentity } from "../lib/ingest/identity";
import type { BusIdentity } from "../lib/ingest/identity";
import { CAN_ID_FIELDS, CHANNEL, checkMessage, checkReport, DEAD_LETTER_CHANNEL, deadLetter, reportParams } from "../lib/ingest/report";
import { IngestCounters } from "../lib/ingest/stats";
import { ALERT_TABLES } from "../lib/fleet/alerts";
import { CHANNEL_MAX_DELIVERIES, RETRIES, retrying } from "../lib/retry";
import { AlertsMixin } from "../mixins/alerts.mixin";
import { StoresMixin } from "../mixins/stores.mixin";

interface TrashReportSettings extends ServiceSettingSchema {
	reportRetentionMs: number;
	/** Level (%) at or above which a can counts as full. */
	fullThreshold: number;
	/** How often the level and full-cans gauges are read from the store. */
	levelGaugesEveryMs: number;
}

interface TrashReportVars {
	stores: IngestStores;
	applier: Batcher<Pending, Applied>;
	counters: IngestCounters;
	timers: NodeJS.Timeout[];
}

interface TrashReportMethods {
	ingest(body: unknown, fallback: BusIdentity, ctx: Context): Promise<ReportStatus>;
	setStatus(record: ReportRecord): Promise<void>;
}

type ReportMeta = { $statusCode?: number; $responseHeaders?: Record<string, string> };

/**
 * Durable ingest of trash-level reports: consumes the `trash-level` channel (group
 * "trashReport"), keeps the latest level per can, and records each report's status so a
 * redelivered report changes nothing and a producer can ask what became of its report.
 * The rules live in lib/ingest; this file wires them to the bus, the store and the metrics.
 */
const TrashReportService: ServiceSchema<TrashReportSettings, TrashReportMethods, TrashReportVars> = {
	name: "trashReport",
	mixins: [StoresMixin({ ...INGEST_TABLES, ...ALERT_TABLES }), AlertsMixin()],
	settings: {
		reportRetentionMs: config.reportRetentionMs,
		fullThreshold: config.fullThreshold,
		levelGaugesEveryMs: 5_000
	},
	actions: {
		/** Accepts a report in the seed format, publishes it on the channel, answers 202 with its id. */
		report: {
			params: reportParams,
			openapi: {
				summary: "Accepts a report in the seed format (202): it is queued on the bus, `GET /reports/{id}` follows it",
				status: 202,
				response: "ReportAccepted",
				example: { can_id: "333", level: "30.65" },
				requireOneOf: CAN_ID_FIELDS,
				errors: { 503: "The bus did not take the report (`BUS_UNAVAILABLE`), or no live trashReport: retry later." }
			},
			async handler(ctx: Context<Record<string, unknown>, ReportMeta>) {
				const receivedAt = new Date().toISOString();
				const checked = checkReport(ctx.params, { id: randomUUID(), reportedAt: receivedAt });
				if (!checked.ok) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", checked.errors);
				const { id, canId, level, reportedAt } = checked.report;
				// Recorded before publishing, so a status lookup right after the 202 finds it.
				await this.setStatus({ id, status: "accepted", canId, level, reportedAt, receivedAt });
				try {
					// with ctx: the consumer logs under this request's id
					await retrying(RETRIES.publish, () => this.broker.sendToChannel(CHANNEL, { id, can_id: canId, level, reportedAt }, { ctx }));
				} catch (err) {
					// 503 (retry later) rather than 202 for a report nobody holds
					const reason = `Not queued: the bus did not take the report (${(err as Error).message}).`;
					this.counters.countRejected("bus_unavailable");
					await this.setStatus({ id, status: "rejected", reason, receivedAt });
					throw new Errors.MoleculerRetryableError(reason, 503, "BUS_UNAVAILABLE", { id });
				}
				ctx.meta.$statusCode = 202;
				// where to follow the report (moleculer-web sets $location only on 201 and 3xx)
				ctx.meta.$responseHeaders = { Location: `/reports/${encodeURIComponent(id)}` };
				return { id, status: "accepted" as const };
			}
		},

		/** Latest level of every can, sorted by can id, optionally only those within [min, max]. */
		levels: {
			params: {
				min: { type: "number", min: 0, max: 100, convert: true, optional: true },
				max: { type: "number", min: 0, max: 100, convert: true, optional: true },
				$$strict: "remove"
			},
			openapi: {
				summary: "The latest level of every can, sorted by can id, optionally only those within [min, max]",
				response: "CanLevels",
				example: { min: 80 }
			},
			async handler(ctx: Context<LevelsParams>): Promise<readonly CanLevel[]> {
				const { min = 0, max = 100 } = ctx.params;
				if (min > max)
					throw new Errors.ValidationError("'min' must not exceed 'max'.", "VALIDATION_ERROR", [
						{ type: "numberMax", field: "min", message: "The 'min' field must be less than or equal to 'max'.", expected: max, actual: min }
					]);
				const levels = sortedLevels(await this.stores.levels.all());
				// unfiltered: the frozen list itself, which the gateway serializes once
				return min === 0 && max === 100 ? levels : levels.filter(can => can.level >= min && can.level <= max);
			}
		},

		/** Latest level of one can (404 when it never reported). */
		get: {
			params: { canId: { type: "string", min: 1, max: 64 } },
			openapi: { summary: "The latest level of one can", response: "CanLevel", errors: { 404: "The can never reported (`CAN_NOT_FOUND`)." } },
			async handler(ctx: Context<{ canId: string }>): Promise<CanLevel> {
				const doc = await this.stores.levels.get(ctx.params.canId);
				if (!doc) throw new Errors.MoleculerClientError(`Can '${ctx.params.canId}' has not reported.`, 404, "CAN_NOT_FOUND", { canId: ctx.params.canId });
				return toLevel(doc);
			}
		},

		/** What became of a report: accepted (queued), applied, or rejected with the reason. */
		status: {
			params: { id: { type: "string", min: 1, max: 128 } },
			openapi: {
				summary: "What became of a report: accepted (queued), applied, or rejected with the reason",
				response: "ReportRecord",
				errors: { 404: "Unknown report, or older than REPORT_RETENTION (`REPORT_NOT_FOUND`)." }
			},
			async handler(ctx: Context<{ id: string }>): Promise<ReportRecord> {
				const doc = await this.stores.reports.get(ctx.params.id);
				if (!doc)
					throw new Errors.MoleculerClientError(`Report '${ctx.params.id}' is unknown (or older than the retention).`, 404, "REPORT_NOT_FOUND", {
						id: ctx.params.id
					});
				return toRecord(doc);
			}
		},

		/** Ingest counters since this process started. */
		stats: {
			params: {},
			handler(): IngestStats {
				return this.counters.snapshot();
			}
		}
	},

	channels: {
		[CHANNEL]: {
			group: "trashReport",
			maxInFlight: CHANNEL_IN_FLIGHT,
			// A report that still fails after the handler's own retries goes back to the bus;
			// after this many deliveries the adapter moves it to the dead letters as it is.
			maxRetries: CHANNEL_MAX_DELIVERIES,
			deadLettering: { enabled: true, queueName: DEAD_LETTER_CHANNEL, exchangeName: DEAD_LETTER_CHANNEL },
			// A Context from the sender's headers (request id, caller); plain producers get a new one.
			context: true,
			async handler(ctx: Context<unknown>, raw: unknown) {
				const fallback = busIdentity(raw);
				this.counters.count("received");
				// The store may be down for a moment: keep the message (unacked, so nothing is
				// lost) and try again, rather than bounce it through the bus at full speed.
				await retrying(RETRIES.ingest, () => this.ingest(ctx.params, fallback, ctx), {
					shouldRetry: () => this.broker.started,
					onRetry: (err, attempt) => {
						this.logger.warn(`Ingest failed (attempt ${attempt}), retrying:`, (err as Error).message);
						// JetStream: still working on it, do not redeliver it elsewhere yet
						(raw as { working?: () => void } | null)?.working?.();
					}
				});
			}
		}
	},

	methods: {
		/**
		 * Applies one report, once in effect however often it is delivered. Invalid reports are
		 * dead-lettered with the reason and never thrown, so the bus never redelivers them forever.
		 */
		async ingest(body: unknown, fallback: BusIdentity, ctx: Context): Promise<ReportStatus> {
			const receivedAt = new Date().toISOString();
			const checked = checkMessage(body, fallback);
			if (!checked.ok) {
				const letter = deadLetter(checked, body, fallback, receivedAt);
				this.counters.countRejected(letter.field);
				await this.broker.sendToChannel(DEAD_LETTER_CHANNEL, letter, { ctx });
				const id = (body as { id?: unknown } | null)?.id;
				if (typeof id === "string" && id.length <= 128) await this.setStatus({ id, status: "rejected", reason: letter.reason, receivedAt });
				this.logger.warn(`Rejected report: ${letter.reason}`);
				return "rejected";
			}
			const { changed, firstTime } = await this.applier.add({ report: checked.report, receivedAt });
			const { id, canId, level, reportedAt } = checked.report;
			if (!firstTime) {
				this.counters.count("duplicates");
				this.logger.debug(`Report ${id} was applied before (redelivered)`);
				return "applied";
			}
			this.counters.count("applied");
			this.logger.debug(`Applied report ${id}: can ${canId} at ${level}%${changed ? "" : " (an older report than the can's level)"}`);
			if (changed) ctx.broadcast("level.updated", { canId, level, reportedAt, receivedAt, fillRate: null, fullAt: null, state: "normal" } satisfies CanLevel);
			return "applied";
		},

		async setStatus({ id, ...fields }: ReportRecord): Promise<void> {
			await this.stores.reports.put({ _id: id, ...fields });
		}
	},

	created() {
		this.applier = new Batcher(items => applyBatch(this.stores, items, this.broker.nodeID), CHANNEL_IN_FLIGHT);
		this.counters = new IngestCounters(this.broker.isMetricsEnabled() ? this.broker.metrics : null);
		this.timers = [];
	},

	started() {
		const every = (ms: number, task: () => Promise<unknown>, what: string) => {
			const run = () => task().catch(err => this.logger.warn(`${what} failed:`, (err as Error).message));
			this.timers.push(setInterval(run, ms).unref());
			return run;
		};
		// The gauges show every can whichever replica applied its report: read from the shared store
		// at about the scrape interval, not followed per report (that cost each replica a message per
		// report of the others).
		if (this.broker.isMetricsEnabled())
			void every(
				this.settings.levelGaugesEveryMs,
				async () => this.counters.setLevels(await this.stores.levels.all(), this.settings.fullThreshold),
				"Reading the levels for the gauges"
			)();
		// Statuses older than the retention are forgotten (the bus keeps undelivered reports as long).
		const cutoff = () => new Date(Date.now() - this.settings.reportRetentionMs).toISOString();
		every(
			Math.min(Math.max(this.settings.reportRetentionMs / 4, 1_000), 5 * 60_000),
			() => this.stores.reports.removeBefore("receivedAt", cutoff()),
			"Pruning report statuses"
		);
	},

	stopped() {
		this.timers.forEach(clearInterval);
	}
};

export default TrashReportService;
