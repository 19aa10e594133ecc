import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { CHANNEL_IN_FLIGHT, GROUP_IN_FLIGHT, senderContext } from "../lib/bus";
import { config } from "../lib/config";
import { parseDuration } from "../lib/config";
import type {
	Can,
	CanAlert,
	CanInput,
	CanLevel,
	Collection,
	HistoryParams,
	IngestStats,
	LevelPoint,
	LevelsParams,
	LevelsUpdated,
	ReportRecord,
	ReportStatus
} from "../lib/contracts";
import { CAN_ID_PARAM, canInputParams, toCan, toCanDoc, toWasteContainer } from "../lib/fleet/cans";
import { downsample } from "../lib/fleet/forecast";
import { applyBatch, INGEST_TABLES, levelsView, thresholdOf, toLevel, toRecord } from "../lib/ingest/apply";
import type { Applied, CanDoc, FleetSettings, IngestStores, Pending } from "../lib/ingest/apply";
import { Batcher } from "../lib/ingest/batcher";
import { busIdentity } from "../lib/ingest/identity";
import type { BusIdentity } from "../lib/ingest/identity";
import { CAN_ID_FIELDS, CHANNEL, checkMessage, ISO_8601, checkReport, DEAD_LETTER_CHANNEL, deadLetter, reportParams } from "../lib/ingest/report";
import { IngestCounters } from "../lib/ingest/stats";
import { ALERT_TABLES } from "../lib/fleet/alerts";
import { CHANNEL_MAX_DELIVERIES, RETRIES, retrying } from "../lib/retry";
import { isStoreUnreachable } from "../lib/store";
import { AlertsMixin } from "../mixins/alerts.mixin";
import { StoresMixin } from "../mixins/stores.mixin";
import type { StoresMethods } from "../mixins/stores.mixin";

interface TrashReportSettings extends ServiceSettingSchema, FleetSettings {
	reportRetentionMs: number;
	levelHistoryRetentionMs: number;
	/** How often the level and full-cans gauges are read from the store. */
	levelGaugesEveryMs: number;
}

interface TrashReportVars {
	stores: IngestStores;
	/** The whole registry, read at most once a second for the ingest's thresholds (it is small). */
	registry: () => Promise<CanDoc[]>;
	forgetRegistry: () => void;
	applier: Batcher<Pending, Applied>;
	/** Whether any service listens to `level.updated` (one event per changed level): looked up per batch. */
	eachLevelFollowed: boolean;
	counters: IngestCounters;
	timers: NodeJS.Timeout[];
}

interface TrashReportMethods extends StoresMethods {
	/** `raw`: the channel message (its headers name the sender). */
	ingest(body: unknown, fallback: BusIdentity, raw: unknown): Promise<ReportStatus>;
	setStatus(record: ReportRecord): Promise<void>;
	/** Broadcasts `levels.updated` with the levels a batch changed. */
	announce(results: Applied[]): void;
	/** From AlertsMixin: publishes alerts on the durable bus. */
	raiseAlerts(alerts: CanAlert[]): Promise<void>;
	prune(): Promise<Pruned>;
	findCan(canId: string): Promise<{ can: Can; level: CanLevel | null }>;
}

/**
 * How old the registry the ingest reads thresholds from may be. This replica's own changes apply at
 * once; another replica's within this long (the level's state is worked out at read time anyway).
 */
const REGISTRY_MAX_AGE_MS = 1_000;

/** Batches applied at once per process (lib/ingest/batcher.ts). */
const APPLY_CONCURRENCY = 2;

/** An ISO-8601 time in the query (as text: params cross the bus to the gateway's OpenAPI document, a RegExp would not). */
const timeParam = (description: string) => ({ type: "string", pattern: ISO_8601.source, optional: true, description }) as const;

/** A time param as a Date; 422 for a date that does not exist (2026-02-30, which Date would roll over). */
function time(value: string | undefined, field: string): Date | undefined {
	if (value == null) return undefined;
	const date = new Date(value);
	const [y, m, d] = value.slice(0, 10).split("-").map(Number);
	if (Number.isNaN(date.getTime()) || d > new Date(Date.UTC(y, m, 0)).getUTCDate())
		throw new Errors.ValidationError(`The '${field}' field must be a Date.`, "VALIDATION_ERROR", [
			{ type: "date", field, actual: value, message: `The '${field}' field must be a Date.` }
		]);
	return date;
}

/** How many report statuses, history levels and collections a pruning removed. */
type Pruned = { reports: number; levels: number; collections: number };

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
		levelHistoryRetentionMs: config.levelHistoryRetentionMs,
		fullThreshold: config.fullThreshold,
		emptiedDrop: config.emptiedDrop,
		overfullAfterMs: config.overfullAfterMs,
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
				errors: {
					503: "The bus did not take the report (`BUS_UNAVAILABLE`), the store did not take its status (`STORE_UNAVAILABLE`), or no live trashReport: retry later."
				}
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

		/** Latest level and forecast of every can, sorted by can id, optionally only those within [min, max] or full by `fullBefore`. */
		levels: {
			params: {
				min: { type: "number", min: 0, max: 100, convert: true, optional: true },
				max: { type: "number", min: 0, max: 100, convert: true, optional: true },
				fullBefore: timeParam("Only the cans full by then (ISO-8601), soonest first."),
				$$strict: "remove"
			},
			openapi: {
				summary:
					"The latest level of every can with its fill rate and forecast, sorted by can id; optionally only those within [min, max], or (`fullBefore`) the cans full by then, soonest first: the next round's pick list",
				response: "CanLevels",
				example: { min: 80 }
			},
			async handler(ctx: Context<LevelsParams>): Promise<readonly CanLevel[]> {
				const { min = 0, max = 100 } = ctx.params;
				const fullBefore = time(ctx.params.fullBefore, "fullBefore");
				if (min > max)
					throw new Errors.ValidationError("'min' must not exceed 'max'.", "VALIDATION_ERROR", [
						{ type: "numberMax", field: "min", message: "The 'min' field must be less than or equal to 'max'.", expected: max, actual: min }
					]);
				const [docs, cans] = await Promise.all([this.stores.levels.all(), this.stores.cans.all()]);
				let levels = levelsView(docs, cans, this.settings);
				if (fullBefore) {
					const by = fullBefore.toISOString();
					levels = levels.filter(can => can.fullAt != null && can.fullAt <= by).sort((a, b) => (a.fullAt! < b.fullAt! ? -1 : a.fullAt! > b.fullAt! ? 1 : 0));
				}
				// unfiltered: the frozen list itself, which the gateway serializes once
				return min === 0 && max === 100 ? levels : levels.filter(can => can.level >= min && can.level <= max);
			}
		},

		/** Latest level and forecast of one can (404 when it never reported). */
		get: {
			params: { canId: CAN_ID_PARAM },
			openapi: {
				summary: "The latest level of one can, with its fill rate and forecast",
				response: "CanLevel",
				errors: { 404: "The can never reported (`CAN_NOT_FOUND`)." }
			},
			async handler(ctx: Context<{ canId: string }>): Promise<CanLevel> {
				const { level } = await this.findCan(ctx.params.canId);
				if (!level) throw new Errors.MoleculerClientError(`Can '${ctx.params.canId}' has not reported.`, 404, "CAN_NOT_FOUND", { canId: ctx.params.canId });
				return level;
			}
		},

		/** A can's applied levels in time order, optionally downsampled (the last level of each `step`). */
		history: {
			params: {
				canId: CAN_ID_PARAM,
				from: timeParam("From this time on (ISO-8601)."),
				to: timeParam("Before this time (ISO-8601)."),
				step: {
					type: "string",
					pattern: "^\\d{1,9}(ms|s|m|h|d)$",
					optional: true,
					description: "A duration: 30s, 15m, 1h, 1d.",
					messages: { stringPattern: "The 'step' field must be a duration such as 30s, 15m, 1h or 1d." }
				},
				limit: { type: "number", integer: true, min: 1, max: 10_000, convert: true, optional: true },
				$$strict: "remove"
			},
			openapi: {
				summary:
					"A can's applied levels in [from, to), in time order; with `step`, the last level of each step (buckets aligned to the epoch). At most `limit` points (default 1000, at most 10 000): the newest ones",
				response: "LevelPoints",
				example: { step: "1h" },
				errors: { 404: "Unknown can (`CAN_NOT_FOUND`)." }
			},
			async handler(ctx: Context<HistoryParams>): Promise<LevelPoint[]> {
				const { canId, step, limit = 1_000 } = ctx.params;
				const [from, to] = [time(ctx.params.from, "from"), time(ctx.params.to, "to")];
				const stepMs = step ? parseDuration(step, 0) : 0;
				const invalid = (field: string, message: string) => new Errors.ValidationError(message, "VALIDATION_ERROR", [{ type: "invalid", field, message }]);
				if (from && to && from > to) throw invalid("from", "The 'from' field must not be after 'to'.");
				if (step && stepMs < 1_000) throw invalid("step", "The 'step' field must be at least 1s.");
				await this.findCan(canId);
				// downsampled, a step's last level needs every level of the window: bounded too
				const points = await this.stores.history.recent("canId", [canId], "reportedAt", {
					from: from?.toISOString(),
					to: to?.toISOString(),
					limit: step ? 100 * limit : limit
				});
				const inOrder = points.reverse().map(({ level, reportedAt }) => ({ level, reportedAt }));
				return step ? downsample(inOrder, stepMs).slice(-limit) : inOrder;
			}
		},

		/** Registers a can or changes its registration: the fields sent replace the stored ones (null clears). */
		putCan: {
			params: canInputParams,
			openapi: {
				summary: "Changes a can's registration, or registers it (201): the fields sent replace the stored ones, null clears one",
				response: "Can",
				created: "The can was not registered before: registered.",
				example: { name: "Town hall, north door", location: { lat: 59.437, lon: 24.745 }, capacityLitres: 240, wasteKind: "mixed", fullThreshold: 85 }
			},
			async handler(ctx: Context<CanInput & { canId: string }, ReportMeta>): Promise<Can> {
				const { canId, ...input } = ctx.params;
				const existed = (await this.stores.cans.get(canId)) != null;
				await this.stores.cans.put(toCanDoc(canId, input));
				this.forgetRegistry();
				ctx.meta.$statusCode = existed ? 200 : 201;
				return (await this.findCan(canId)).can;
			}
		},

		/** Every can: the registered ones and those that reported, sorted by can id. */
		cans: {
			params: {},
			openapi: { summary: "Every can: the registered ones and those known from their reports, sorted by can id", response: "Cans" },
			async handler(): Promise<Can[]> {
				const [docs, levels] = await Promise.all([this.stores.cans.all(), this.stores.levels.all()]);
				const registry = new Map(docs.map(d => [d._id, d]));
				const ids = [...new Set([...registry.keys(), ...levels.map(l => l._id)])].sort();
				const byId = new Map(levels.map(l => [l._id, l]));
				return ids.map(id => toCan(id, registry.get(id), byId.get(id), this.settings.fullThreshold));
			}
		},

		/** One can; `format=ngsi-ld` (or `Accept: application/ld+json`) answers a FIWARE NGSI-LD WasteContainer. */
		getCan: {
			params: { canId: CAN_ID_PARAM, format: { type: "enum", values: ["json", "ngsi-ld"], optional: true }, $$strict: "remove" },
			openapi: {
				summary: "One can. With `format=ngsi-ld` or `Accept: application/ld+json`: the can as a FIWARE NGSI-LD `WasteContainer` entity",
				response: "Can",
				alternatives: {
					"application/ld+json":
						"A FIWARE NGSI-LD `WasteContainer` (smart-data-models WasteManagement): `fillingLevel` 0–1, `location` GeoJSON, `dateLastEmptying`, `nextActuationDeadline` (when it will be full), `status` (the can's state)."
				},
				errors: { 404: "Neither registered nor ever reported (`CAN_NOT_FOUND`)." }
			},
			async handler(ctx: Context<{ canId: string; format?: "json" | "ngsi-ld" }, { $responseType?: string }>): Promise<Can | Record<string, unknown>> {
				const { can, level } = await this.findCan(ctx.params.canId);
				if (ctx.params.format !== "ngsi-ld") return can;
				ctx.meta.$responseType = "application/ld+json";
				return toWasteContainer(can, level);
			}
		},

		/** Forgets a can: its registration, level, history and collections (its reports' statuses stay). */
		removeCan: {
			params: { canId: CAN_ID_PARAM },
			openapi: {
				summary: "Forgets a can: its registration, level, history and collections. A report it sends later makes it known again",
				response: "Can",
				errors: { 404: "Neither registered nor ever reported (`CAN_NOT_FOUND`)." }
			},
			async handler(ctx: Context<{ canId: string }>): Promise<Can> {
				const { canId } = ctx.params;
				const { can } = await this.findCan(canId);
				await Promise.all([
					this.stores.cans.removeWhere("_id", canId).finally(() => this.forgetRegistry()),
					this.stores.levels.removeWhere("_id", canId),
					this.stores.history.removeWhere("canId", canId),
					this.stores.collections.removeWhere("canId", canId)
				]);
				return can;
			}
		},

		/** A can's emptyings, newest first. */
		collections: {
			params: {
				canId: CAN_ID_PARAM,
				limit: { type: "number", integer: true, min: 1, max: 1_000, convert: true, optional: true },
				$$strict: "remove"
			},
			openapi: {
				summary: "A can's emptyings (a drop of more than EMPTIED_DROP points between two reports), newest first, at most `limit` (default 100)",
				response: "Collections",
				errors: { 404: "Unknown can (`CAN_NOT_FOUND`)." }
			},
			async handler(ctx: Context<{ canId: string; limit?: number }>): Promise<Collection[]> {
				const { canId, limit = 100 } = ctx.params;
				await this.findCan(canId);
				const docs = await this.stores.collections.recent("canId", [canId], "emptiedAt", { limit });
				return docs.map(({ canId, emptiedAt, levelBefore, levelAfter }) => ({ canId, emptiedAt, levelBefore, levelAfter }));
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

		/** Forgets now what is older than its retention (also done every few minutes): a maintenance action, not on the REST API. */
		prune: {
			params: {},
			handler(): Promise<Pruned> {
				return this.prune();
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
			// on NATS the whole group's, on the in-memory bus per process (RabbitMQ: the adapter's prefetch)
			maxInFlight: GROUP_IN_FLIGHT,
			// A report that still fails after the handler's own retries goes back to the bus;
			// after this many deliveries the adapter moves it to the dead letters as it is.
			maxRetries: CHANNEL_MAX_DELIVERIES,
			deadLettering: { enabled: true, queueName: DEAD_LETTER_CHANNEL, exchangeName: DEAD_LETTER_CHANNEL },
			// No Context per message: ingest makes one from the sender's headers when it needs one
			// (RequestIdMiddleware reads the request id from them for the log lines).
			context: false,
			async handler(payload: unknown, raw: unknown) {
				const fallback = busIdentity(raw);
				this.counters.count("received");
				// The store may be down: the report is held (unacked, so nothing is lost) and tried again
				// in place, rather than bounced through the bus at full speed (StoresMixin).
				await this.storeRetrying(() => this.ingest(payload, fallback, raw), raw);
			}
		}
	},

	methods: {
		/**
		 * Applies one report, once in effect however often it is delivered. Invalid reports are
		 * dead-lettered with the reason and never thrown, so the bus never redelivers them forever.
		 */
		async ingest(body: unknown, fallback: BusIdentity, raw: unknown): Promise<ReportStatus> {
			const receivedAt = new Date().toISOString();
			const checked = checkMessage(body, fallback);
			if (!checked.ok) {
				const letter = deadLetter(checked, body, fallback, receivedAt);
				this.counters.countRejected(letter.field);
				await this.broker.sendToChannel(DEAD_LETTER_CHANNEL, letter, { ctx: senderContext(this.broker, raw, body) });
				const id = (body as { id?: unknown } | null)?.id;
				if (typeof id === "string" && id.length <= 128) await this.setStatus({ id, status: "rejected", reason: letter.reason, receivedAt });
				this.logger.warn(`Rejected report: ${letter.reason}`);
				return "rejected";
			}
			const { changed, firstTime, level: updated } = await this.applier.add({ report: checked.report, receivedAt });
			const { id, canId, level } = checked.report;
			if (!firstTime) {
				this.counters.count("duplicates");
				this.logger.debug(`Report ${id} was applied before (redelivered)`);
				return "applied";
			}
			this.counters.count("applied");
			this.logger.debug(`Applied report ${id}: can ${canId} at ${level}%${changed ? "" : " (an older report than the can's level)"}`);
			if (changed && updated && this.eachLevelFollowed)
				senderContext(this.broker, raw, body)
					.broadcast("level.updated", updated satisfies CanLevel)
					.catch(err => this.logger.warn("Broadcasting level.updated failed:", err.message));
			return "applied";
		},

		/**
		 * One event per applied batch with the levels it changed (newest per can): what the dashboard
		 * follows. An event per report cost the bus, and every listening gateway, a message per report:
		 * a fifth of the machine's CPU per report in a backlog drain (docs/benchmarks.md).
		 */
		announce(results: Applied[]): void {
			const levels = results.flatMap(r => (r.changed && r.level ? [r.level] : []));
			if (levels.length === 0) return;
			this.broker
				.broadcast("levels.updated", { levels } satisfies LevelsUpdated)
				.catch(err => this.logger.warn("Broadcasting levels.updated failed:", err.message));
		},

		/** Records a report's status unless it was applied: a client that POSTs a report again with its id does not undo that. */
		async setStatus({ id, ...fields }: ReportRecord): Promise<void> {
			await this.stores.reports.putManyUnless([{ _id: id, ...fields }], "status", "applied");
		},

		/** Forgets what is older than its retention. */
		async prune(): Promise<Pruned> {
			const before = (ms: number) => new Date(Date.now() - ms).toISOString();
			const history = before(this.settings.levelHistoryRetentionMs);
			const [reports, levels, collections] = await Promise.all([
				this.stores.reports.removeBefore("receivedAt", before(this.settings.reportRetentionMs)),
				this.stores.history.removeBefore("reportedAt", history),
				this.stores.collections.removeBefore("emptiedAt", history)
			]);
			return { reports, levels, collections };
		},

		/** A can's registration (or defaults) and level; 404 when it is neither registered nor ever reported. */
		async findCan(canId: string): Promise<{ can: Can; level: CanLevel | null }> {
			const [doc, level] = await Promise.all([this.stores.cans.get(canId), this.stores.levels.get(canId)]);
			if (!doc && !level) throw new Errors.MoleculerClientError(`Can '${canId}' is unknown.`, 404, "CAN_NOT_FOUND", { canId });
			return {
				can: toCan(canId, doc, level, this.settings.fullThreshold),
				level: level ? toLevel(level, thresholdOf(doc, this.settings), this.settings) : null
			};
		}
	},

	created() {
		this.applier = new Batcher(
			async items => {
				this.counters.countBatch(items.length);
				const results = await applyBatch(this.stores, items, {
					appliedBy: this.broker.nodeID,
					settings: this.settings,
					raise: alerts => this.raiseAlerts(alerts),
					registry: () => this.registry()
				});
				this.eachLevelFollowed = this.broker.hasEventListener("level.updated");
				this.announce(results);
				return results;
			},
			{
				maxSize: CHANNEL_IN_FLIGHT,
				// one batch writes while the next one fills: a burst becomes few, large batches
				maxConcurrent: APPLY_CONCURRENCY,
				// A report the store refuses (while it answers) fails alone, not its batch-mates, which
				// would otherwise retry with it, together, until all were dead-lettered.
				isolate: err => !isStoreUnreachable(err)
			}
		);
		let read: { at: number; cans: Promise<CanDoc[]> } | null = null;
		this.registry = () => {
			if (!read || Date.now() - read.at > REGISTRY_MAX_AGE_MS) {
				const fresh = { at: Date.now(), cans: this.stores.cans.all() };
				// a failed read is not kept (nor does it forget a newer one)
				fresh.cans.catch(() => read === fresh && (read = null));
				read = fresh;
			}
			return read.cans;
		};
		this.forgetRegistry = () => (read = null);
		this.eachLevelFollowed = false;
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
				async () => {
					const [levels, cans] = await Promise.all([this.stores.levels.all(), this.stores.cans.all()]);
					this.counters.setLevels(levelsView(levels, cans, this.settings));
				},
				"Reading the levels for the gauges"
			)();
		// Statuses older than REPORT_RETENTION are forgotten (the bus keeps undelivered reports as
		// long), levels older than LEVEL_HISTORY_RETENTION leave the history, emptyings with them.
		const shortest = Math.min(this.settings.reportRetentionMs, this.settings.levelHistoryRetentionMs);
		every(Math.min(Math.max(shortest / 4, 1_000), 5 * 60_000), () => this.prune(), "Pruning report statuses and level history");
	},

	stopped() {
		this.timers.forEach(clearInterval);
	}
};

export default TrashReportService;
