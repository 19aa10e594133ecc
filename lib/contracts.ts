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

/** The latest level of a can, as `GET /levels` answers it and `level.updated` carries it. */
export interface CanLevel {
	canId: string;
	level: number;
	reportedAt: string;
	receivedAt: string;
}

/** `GET /levels` query. */
export interface LevelsParams {
	min?: number;
	max?: number;
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
	NOT_READY: 503,
	TOO_MANY_LIVE_CLIENTS: 503,
	REQUEST_TIMEOUT: 504,
	SERVICE_NOT_FOUND: 503,
	SERVICE_NOT_AVAILABLE: 503
} as const satisfies Record<string, number>;

/** The HTTP methods that change state: they need the API token, and the document marks them so. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);
