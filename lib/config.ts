import fs from "node:fs";
import { parseEnv } from "node:util";
/**
 * Reads the environment once. Every tunable of the system is here, with its default;
 * `.env.example` documents the same list for operators.
 */

export const ALL_SERVICES = ["systemManager", "rest", "pilot", "db", "trashReport", "simulator"] as const;
export type ServiceName = (typeof ALL_SERVICES)[number];

export interface Config {
	transporter: string | null;
	services: ServiceName[];
	port: number;
	metricsPort: number;
	metrics: boolean;
	tracing: boolean;
	dbUri: string | null;
	dataDir: string;
	serializer: (typeof SERIALIZERS)[number];
	apiToken: string | null;
	apiTokenReads: boolean;
	rateLimit: number;
	nodeID: string | null;
	namespace: string;
	logLevel: string;
	logFormat: "text" | "json";
	requestTimeoutMs: number;
	simCans: number;
	simIntervalMs: number;
	simAutostart: boolean;
	reportRetentionMs: number;
	streamReplicas: number;
	/** A can at or above this level (%) is full: the dashboard lists it first, a gauge counts it. */
	fullThreshold: number;
	/** How long applied levels are kept in each can's history. */
	levelHistoryRetentionMs: number;
	/** A drop of more than this many points between two reports is an emptying. */
	emptiedDrop: number;
	/** A can full for longer than this is overfull. */
	overfullAfterMs: number;
	/** A can that has not reported for this long raises `can.silent`. */
	silentAfterMs: number;
	/** Where alerts are POSTed (none: events only). */
	webhookUrls: string[];
	/** HMAC-SHA256 key of the `X-Signature-256` header (none: unsigned). */
	webhookSecret: string | null;
	/** The box the simulator's cans stand in. */
	simArea: GeoBox;
	/** The dashboard map's tile URL template (`{z}/{x}/{y}`); none: the cans on a plain background. */
	mapTiles: string | null;
	/** The credit the tiles' provider asks for, shown under the map. */
	mapAttribution: string;
}

export interface GeoBox {
	south: number;
	west: number;
	north: number;
	east: number;
}

type Env = Record<string, string | undefined>;

function int(value: string | undefined, fallback: number, name: string): number {
	if (value == null || value === "") return fallback;
	const n = Number(value);
	if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${value}"`);
	return n;
}

function bool(value: string | undefined, fallback: boolean): boolean {
	if (value == null || value === "") return fallback;
	return !["0", "false", "off", "no"].includes(value.toLowerCase());
}

function percent(value: string | undefined, fallback: number, name: string): number {
	if (value == null || value === "") return fallback;
	const n = Number(value);
	if (!Number.isFinite(n) || n < 0 || n > 100) throw new Error(`${name} must be a number from 0 to 100, got "${value}"`);
	return n;
}

/** Serializers whose packages are installed (Moleculer's names). */
export const SERIALIZERS = ["JSON", "MsgPack", "Notepack"] as const;

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, name: string): T {
	if (value == null || value === "") return fallback;
	const found = allowed.find(a => a.toLowerCase() === value.toLowerCase());
	if (!found) throw new Error(`${name} must be one of ${allowed.join(", ")}, got "${value}"`);
	return found;
}

/** "south,west,north,east" in degrees. */
export function parseBox(value: string | undefined, fallback: GeoBox, name: string): GeoBox {
	if (value == null || value.trim() === "") return fallback;
	const n = value.split(",").map(Number);
	const [south, west, north, east] = n;
	if (n.length !== 4 || n.some(x => !Number.isFinite(x)) || south >= north || west >= east || south < -90 || north > 90 || west < -180 || east > 180)
		throw new Error(`${name} must be "south,west,north,east" in degrees, south < north and west < east, got "${value}"`);
	return { south, west, north, east };
}

/** Comma list of http(s) URLs. */
export function parseUrls(value: string | undefined, name: string): string[] {
	if (value == null || value.trim() === "") return [];
	return value
		.split(",")
		.map(s => s.trim())
		.filter(Boolean)
		.map(url => {
			if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new Error(`${name} must be a comma list of http(s) URLs, got "${url}"`);
			return url;
		});
}

/** An http(s) tile URL template with {z}, {x} and {y}, as Leaflet takes it. */
export function parseTileUrl(value: string | undefined, name: string): string | null {
	if (value == null || value.trim() === "") return null;
	const url = value.trim();
	const sample = url.replace(/\{[a-z]+\}/g, "0");
	if (!URL.canParse(sample) || !/^https?:$/.test(new URL(sample).protocol) || !["{z}", "{x}", "{y}"].every(part => url.includes(part)))
		throw new Error(`${name} must be an http(s) URL template with {z}, {x} and {y}, got "${value}"`);
	return url;
}

/** "90s", "15m", "1h", "2d" or plain milliseconds. */
export function parseDuration(value: string | undefined, fallbackMs: number): number {
	if (value == null || value === "") return fallbackMs;
	const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(value.trim());
	if (!m) throw new Error(`Invalid duration "${value}" (use e.g. 500ms, 30s, 15m, 1h, 2d)`);
	const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] ?? "ms"]!;
	return Math.round(Number(m[1]) * unit);
}

/** Comma list of service names; each must be one of the six. */
export function parseServices(value: string | undefined): ServiceName[] {
	if (value == null || value.trim() === "") return [...ALL_SERVICES];
	const names = value
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
	for (const name of names) {
		if (!(ALL_SERVICES as readonly string[]).includes(name)) throw new Error(`Unknown service "${name}" in SERVICES (known: ${ALL_SERVICES.join(", ")})`);
	}
	return names as ServiceName[];
}

/** `amqp://user:secret@host` → `amqp://user:***@host`, for logs and errors. */
export const maskUri = (uri: string) => uri.replace(/\/\/([^:/@]+):[^@]*@/g, "//$1:***@");

export function loadConfig(env: Env = process.env): Config {
	return {
		transporter: env.TRANSPORTER?.trim() || null,
		services: parseServices(env.SERVICES),
		port: int(env.PORT, 3000, "PORT"),
		metricsPort: int(env.METRICS_PORT, 3030, "METRICS_PORT"),
		metrics: bool(env.METRICS, true),
		tracing: bool(env.TRACING, false),
		dbUri: env.DB_URI?.trim() || null,
		dataDir: env.DATA_DIR || "./data",
		serializer: oneOf(env.SERIALIZER, SERIALIZERS, "JSON", "SERIALIZER"),
		apiToken: env.API_TOKEN || null,
		apiTokenReads: bool(env.API_TOKEN_READS, false),
		rateLimit: int(env.RATE_LIMIT, 1200, "RATE_LIMIT"),
		nodeID: env.NODE_ID || null,
		namespace: env.NAMESPACE || "",
		logLevel: env.LOG_LEVEL || "info",
		logFormat: env.LOG_FORMAT === "json" ? "json" : "text",
		requestTimeoutMs: int(env.REQUEST_TIMEOUT_MS, 10_000, "REQUEST_TIMEOUT_MS"),
		simCans: int(env.SIM_CANS, 10, "SIM_CANS"),
		simIntervalMs: int(env.SIM_INTERVAL_MS, 4_000, "SIM_INTERVAL_MS"),
		simAutostart: bool(env.SIM_AUTOSTART, true),
		reportRetentionMs: parseDuration(env.REPORT_RETENTION, 3600e3),
		streamReplicas: int(env.STREAM_REPLICAS, 1, "STREAM_REPLICAS") || 1,
		fullThreshold: percent(env.FULL_THRESHOLD, 80, "FULL_THRESHOLD"),
		levelHistoryRetentionMs: parseDuration(env.LEVEL_HISTORY_RETENTION, 30 * 86400e3),
		emptiedDrop: percent(env.EMPTIED_DROP, 30, "EMPTIED_DROP"),
		overfullAfterMs: parseDuration(env.OVERFULL_AFTER, 2 * 3600e3),
		silentAfterMs: parseDuration(env.SILENT_AFTER, 3600e3),
		webhookUrls: parseUrls(env.WEBHOOK_URLS, "WEBHOOK_URLS"),
		webhookSecret: env.WEBHOOK_SECRET || null,
		// central Tallinn, about 6 × 4 km
		simArea: parseBox(env.SIM_AREA, { south: 59.41, west: 24.7, north: 59.45, east: 24.8 }, "SIM_AREA"),
		// off by default: no tile server is reachable from a closed network, and the map works without one
		mapTiles: parseTileUrl(env.MAP_TILES, "MAP_TILES"),
		mapAttribution: env.MAP_ATTRIBUTION || "© OpenStreetMap contributors"
	};
}

/**
 * Fills unset variables from `./.env` (an exported variable wins over the file). Not under jest:
 * a developer's .env must not change what the tests run against.
 */
function loadDotEnv(file = ".env"): void {
	if (process.env.NODE_ENV === "test" || !fs.existsSync(file)) return;
	for (const [key, value] of Object.entries(parseEnv(fs.readFileSync(file, "utf8")))) process.env[key] ??= value;
}

loadDotEnv();
export const config = loadConfig();
