/**
 * The shapes that cross a service boundary: what the REST contract answers (DESIGN.md), what the
 * actions behind it take and return, and the payloads of the events services emit. Services,
 * the dashboard, the CLI and the tests all import them from here, never from each other.
 */

/** A movie as stored and returned over REST. */
export interface Movie {
	id: string;
	title: string;
	year?: number;
	director?: string;
	genres?: string[];
	createdAt: string;
	updatedAt: string;
}

/** The fields a client sends to create (title required) or update (all optional) a movie. */
export interface MovieInput {
	title: string;
	year?: number;
	director?: string;
	genres?: string[];
}

/** `GET /movies` query. */
export interface ListParams {
	page?: number;
	pageSize?: number;
	sort?: string;
	search?: string;
}

/** `GET /movies` answer. */
export interface MoviePage {
	rows: Movie[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

/**
 * Where a can stands in its fill cycle: `empty` below 5 %, `full` at or above its threshold,
 * `overfull` at 100 % or full for longer than `OVERFULL_AFTER`, `normal` otherwise.
 */
export type CanState = "empty" | "normal" | "full" | "overfull";

/** The latest level of a can with its forecast, as `GET /levels` answers it and `level.updated` carries it. */
export interface CanLevel {
	canId: string;
	level: number;
	reportedAt: string;
	receivedAt: string;
	/** % per hour since the last emptying (a robust slope over the cycle's reports); null before two reports. */
	fillRate: number | null;
	/** When the can reaches its threshold at that rate (when it did, once full); null when not filling. */
	fullAt: string | null;
	state: CanState;
}

/**
 * `levels.updated`: the levels one applied batch of reports changed, newest per can. One event a
 * batch rather than one a report: a listener that follows every can (the dashboard) costs the bus
 * one message per batch. `level.updated` (one `CanLevel` per changed can) is still emitted while
 * any service listens to it.
 */
export interface LevelsUpdated {
	levels: CanLevel[];
}

/** `GET /levels` query. */
export interface LevelsParams {
	min?: number;
	max?: number;
	/** Only the cans full by then, soonest first (the next round's pick list). */
	fullBefore?: string;
}

export interface GeoPoint {
	lat: number;
	lon: number;
}

/** `PUT /cans/:canId` body: every field optional; a field sent replaces the stored one. */
export interface CanInput {
	name?: string;
	location?: GeoPoint;
	capacityLitres?: number;
	wasteKind?: string;
	/** This can's full threshold (%), instead of `FULL_THRESHOLD`. */
	fullThreshold?: number;
}

/** A can of the registry (`GET /cans/:canId`); a can that reported but was never registered has the defaults. */
export interface Can {
	canId: string;
	name: string | null;
	location: GeoPoint | null;
	capacityLitres: number | null;
	wasteKind: string | null;
	/** Its own threshold, or `FULL_THRESHOLD`. */
	fullThreshold: number;
	/** Registered with `PUT /cans/:canId` (false: known from its reports only). */
	registered: boolean;
	lastEmptiedAt: string | null;
}

/** One applied level of a can's history (`GET /levels/:canId/history`). */
export interface LevelPoint {
	level: number;
	reportedAt: string;
}

/** `GET /levels/:canId/history` query: `[from, to)` in ISO times, `step` a duration ("15m") to downsample to. */
export interface HistoryParams {
	canId: string;
	from?: string;
	to?: string;
	step?: string;
	limit?: number;
}

/** An emptying: a drop of more than `EMPTIED_DROP` points between two reports (`GET /cans/:canId/collections`). */
export interface Collection {
	canId: string;
	/** The report time of the first report after the drop. */
	emptiedAt: string;
	levelBefore: number;
	levelAfter: number;
}

export type AlertType = "can.full" | "can.emptied" | "can.silent";

/**
 * An alert, as the `can.*` events carry it and webhooks receive it. `id` is stable
 * (`<type>:<canId>:<key>`, the key naming the occurrence: a `can.full`'s fill cycle start, a
 * `can.emptied`'s time, a `can.silent`'s last report): the same alert detected twice has the same
 * id, so a receiver can deduplicate on it.
 */
export interface CanAlert {
	id: string;
	type: AlertType;
	canId: string;
	/** When it happened: the report that crossed the threshold or followed the drop; the last report for `can.silent`. */
	at: string;
	level: number;
	fullThreshold: number;
}

export type ReportStatus = "accepted" | "applied" | "rejected";

/** `GET /reports/:id`: what became of a report. */
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

/** What one trashReport process did with the reports it consumed (`trashReport.stats`). */
export interface IngestStats {
	received: number;
	applied: number;
	duplicates: number;
	/** By the report's field that failed (`level`, `can_id`, `body`…) or `bus_unavailable`. */
	rejected: Record<string, number>;
	/** Batches the store was written in, and the valid reports they held (mean batch size: the ratio). */
	batches: number;
	batched: number;
}

/** One type of worker (a service name) and the live nodes that run it (`GET /workers`). */
export interface Worker {
	type: string;
	nodes: string[];
	instances: number;
}

/** Payload of the `worker.new` / `worker.del` events (names kept from the older bus-based system). */
export interface WorkerEvent {
	type: string;
	nodeID: string;
}

/** A report as the simulator publishes it: the seed format plus an id and a report time. */
export interface SimulatedReport {
	id: string;
	can_id: string;
	level: string;
	reportedAt: string;
}

export interface SimulatorStatus {
	running: boolean;
	cans: number;
	intervalMs: number;
	published: number;
}

/** One of the simulator's cans (`simulator.cans`): where it stands, how fast it truly fills, what it last reported. */
export interface SimulatedCan {
	canId: string;
	name: string;
	location: GeoPoint;
	capacityLitres: number;
	wasteKind: string;
	/** Its true fill speed, % per hour: what the forecasts should find. */
	fillRate: number;
	/** Its last reported level (null before its first report). */
	level: number | null;
}

/**
 * The error types a job of ours can end with, and the status each answers over REST: the error's
 * `type`, or its class name where it has none (moleculer-db's EntityNotFoundError; body-parser's
 * `entity.*`). `microservices_job_errors_total` starts each at 0 for every service, and the
 * job-errors alert counts the 5xx ones.
 */
export const JOB_ERROR_TYPES = {
	VALIDATION_ERROR: 422,
	EntityNotFoundError: 404,
	CAN_NOT_FOUND: 404,
	REPORT_NOT_FOUND: 404,
	NO_TOKEN: 401,
	INVALID_TOKEN: 401,
	UNSUPPORTED_MEDIA_TYPE: 415,
	"entity.parse.failed": 400,
	"entity.too.large": 413,
	BUS_UNAVAILABLE: 503,
	STORE_UNAVAILABLE: 503,
	NOT_READY: 503,
	TOO_MANY_LIVE_CLIENTS: 503,
	REQUEST_TIMEOUT: 504,
	SERVICE_NOT_FOUND: 503,
	SERVICE_NOT_AVAILABLE: 503
} as const satisfies Record<string, number>;

/** The HTTP methods that change state: they need the API token, and the document marks them so. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Text a store can hold and a person can read: no control characters (as text: the params cross
 * the bus). PostgreSQL refuses U+0000 in text outright (such a can id was a 500 at the gateway, and a
 * report the store refused from a bus producer), and Sequelize turned it into the text "\0".
 */
export const PRINTABLE_TEXT = "^[^\\u0000-\\u001f\\u007f]*$";
/** A string rule that refuses control characters, saying so. */
export const printable = <R extends { type: "string" }>(rule: R) =>
	({ ...rule, pattern: PRINTABLE_TEXT, messages: { stringPattern: "The '{field}' field must not contain control characters." } }) as const;
