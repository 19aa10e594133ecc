/**
 * The shapes the REST API answers (lib/contracts.ts's types) as JSON Schema 2020-12, the
 * components of the OpenAPI document. Requests are not here: they come from the actions' params.
 * `additionalProperties: false` wherever the contract lists every field, so that the contract
 * test (test/integration/openapi.spec.ts) fails when an answer carries one more.
 */
import type { JsonSchema } from "./json-schema";

const dateTime = { type: "string", format: "date-time" };
const NOW = "2026-01-01T10:00:00.000Z";

/** moleculer-web's error shape: every error the gateway answers. */
const ErrorShape: JsonSchema = {
	type: "object",
	required: ["name", "message", "code"],
	properties: {
		name: { type: "string", examples: ["EntityNotFoundError"] },
		message: { type: "string" },
		code: { type: "integer", minimum: 400, maximum: 599 },
		type: {
			type: ["string", "null"],
			description: "What went wrong, in capitals (`VALIDATION_ERROR`, `NO_TOKEN`, …); `lib/contracts.ts` JOB_ERROR_TYPES lists them."
		},
		data: { description: "Details: the failing fields of a 422, the checks of a 503 from /health/ready, …" }
	},
	additionalProperties: false
};

/** A 422: which fields failed, and why (fastest-validator's errors). */
const ValidationError: JsonSchema = {
	type: "object",
	required: ["name", "message", "code", "type", "data"],
	properties: {
		name: { const: "ValidationError" },
		message: { type: "string" },
		code: { const: 422 },
		type: { const: "VALIDATION_ERROR" },
		data: {
			type: "array",
			minItems: 1,
			items: {
				type: "object",
				required: ["type", "message"],
				properties: {
					type: { type: "string", examples: ["required", "stringMin", "numberMax"] },
					field: {
						type: "string",
						description: "Absent when the error is about the body as a whole (`objectStrict`: fields it does not take, named in `actual`)."
					},
					message: { type: "string" },
					expected: {},
					actual: {}
				}
			}
		}
	},
	additionalProperties: false,
	examples: [
		{
			name: "ValidationError",
			message: "Parameters validation error!",
			code: 422,
			type: "VALIDATION_ERROR",
			data: [{ type: "required", field: "title", message: "The 'title' field is required." }]
		}
	]
};

const Movie: JsonSchema = {
	type: "object",
	required: ["id", "title", "createdAt", "updatedAt"],
	properties: {
		id: { type: "string" },
		title: { type: "string" },
		// null when a client sent null for it (the validator takes null for a missing optional field)
		year: { type: ["integer", "null"] },
		director: { type: ["string", "null"] },
		genres: { type: ["array", "null"], items: { type: "string" } },
		createdAt: dateTime,
		updatedAt: dateTime
	},
	additionalProperties: false,
	examples: [{ id: "J3k8Qm2vXa9TbC1d", title: "Alien", year: 1979, director: "Ridley Scott", genres: ["horror", "sci-fi"], createdAt: NOW, updatedAt: NOW }]
};

const MoviePage: JsonSchema = {
	type: "object",
	required: ["rows", "total", "page", "pageSize", "totalPages"],
	properties: {
		rows: { type: "array", items: { $ref: "#/components/schemas/Movie" } },
		total: { type: "integer", minimum: 0 },
		page: { type: "integer", minimum: 1 },
		pageSize: { type: "integer", minimum: 1 },
		totalPages: { type: "integer", minimum: 0 }
	},
	additionalProperties: false
};

const MovieRemoved: JsonSchema = {
	type: "object",
	required: ["id"],
	properties: { id: { type: "string" } },
	additionalProperties: false
};

const nullableDateTime = { type: ["string", "null"], format: "date-time" };

const CanLevel: JsonSchema = {
	type: "object",
	required: ["canId", "level", "reportedAt", "receivedAt", "fillRate", "fullAt", "state"],
	properties: {
		canId: { type: "string" },
		level: { type: "number", minimum: 0, maximum: 100, description: 'A number, whichever form the report had (`"30.65"` → `30.65`).' },
		reportedAt: dateTime,
		receivedAt: dateTime,
		fillRate: {
			type: ["number", "null"],
			description: "% per hour since the last emptying: the median slope between every two of the cycle's recent reports (Theil–Sen). Null before two reports."
		},
		fullAt: { ...nullableDateTime, description: "When the can reaches its threshold at that rate; when it did, once full; null when not filling." },
		state: {
			enum: ["empty", "normal", "full", "overfull"],
			description: "`empty` below 5 %, `full` at or above the can's threshold, `overfull` at 100 % or full for longer than OVERFULL_AFTER."
		}
	},
	additionalProperties: false,
	examples: [{ canId: "333", level: 30.65, reportedAt: NOW, receivedAt: NOW, fillRate: 12.5, fullAt: "2026-01-01T14:00:00.000Z", state: "normal" }]
};

const GeoPoint: JsonSchema = {
	type: "object",
	required: ["lat", "lon"],
	properties: { lat: { type: "number", minimum: -90, maximum: 90 }, lon: { type: "number", minimum: -180, maximum: 180 } },
	additionalProperties: false
};

const Can: JsonSchema = {
	type: "object",
	required: ["canId", "name", "location", "capacityLitres", "wasteKind", "fullThreshold", "registered", "lastEmptiedAt"],
	properties: {
		canId: { type: "string" },
		name: { type: ["string", "null"] },
		location: { oneOf: [{ $ref: "#/components/schemas/GeoPoint" }, { type: "null" }] },
		capacityLitres: { type: ["number", "null"] },
		wasteKind: { type: ["string", "null"] },
		fullThreshold: { type: "number", minimum: 0, maximum: 100, description: "The can's own threshold (%), or FULL_THRESHOLD." },
		registered: { type: "boolean", description: "Registered with PUT /cans/{canId}; false for a can known from its reports only." },
		lastEmptiedAt: nullableDateTime
	},
	additionalProperties: false,
	examples: [
		{
			canId: "333",
			name: "Town hall, north door",
			location: { lat: 59.437, lon: 24.745 },
			capacityLitres: 240,
			wasteKind: "mixed",
			fullThreshold: 85,
			registered: true,
			lastEmptiedAt: null
		}
	]
};

const Cans: JsonSchema = { type: "array", items: { $ref: "#/components/schemas/Can" }, description: "Sorted by can id." };

const LevelPoints: JsonSchema = {
	type: "array",
	items: {
		type: "object",
		required: ["level", "reportedAt"],
		properties: { level: { type: "number", minimum: 0, maximum: 100 }, reportedAt: dateTime },
		additionalProperties: false
	},
	description: "In time order.",
	examples: [[{ level: 30.65, reportedAt: NOW }]]
};

const Collections: JsonSchema = {
	type: "array",
	items: {
		type: "object",
		required: ["canId", "emptiedAt", "levelBefore", "levelAfter"],
		properties: { canId: { type: "string" }, emptiedAt: dateTime, levelBefore: { type: "number" }, levelAfter: { type: "number" } },
		additionalProperties: false
	},
	description: "Newest first."
};

const CanLevels: JsonSchema = {
	type: "array",
	items: { $ref: "#/components/schemas/CanLevel" },
	description: "Sorted by can id, numerically where ids are numbers."
};

const ReportAccepted: JsonSchema = {
	type: "object",
	required: ["id", "status"],
	properties: { id: { type: "string" }, status: { const: "accepted" } },
	additionalProperties: false,
	examples: [{ id: "0b7e5a52-3c1e-4d0a-9d55-0c2f6f1a7e11", status: "accepted" }]
};

const ReportRecord: JsonSchema = {
	type: "object",
	required: ["id", "status", "receivedAt"],
	properties: {
		id: { type: "string" },
		status: { enum: ["accepted", "applied", "rejected"] },
		reason: { type: "string", description: "Why a rejected report was refused." },
		canId: { type: "string" },
		level: { type: "number", minimum: 0, maximum: 100 },
		reportedAt: dateTime,
		receivedAt: dateTime,
		appliedBy: { type: "string", description: "The node whose trashReport applied it." }
	},
	additionalProperties: false,
	examples: [
		{ id: "0b7e5a52-3c1e-4d0a-9d55-0c2f6f1a7e11", status: "applied", canId: "333", level: 30.65, reportedAt: NOW, receivedAt: NOW, appliedBy: "node-1" }
	]
};

const Workers: JsonSchema = {
	type: "array",
	items: {
		type: "object",
		required: ["type", "nodes", "instances"],
		properties: {
			type: { type: "string", description: "A service name." },
			nodes: { type: "array", items: { type: "string" } },
			instances: { type: "integer", minimum: 1 }
		},
		additionalProperties: false
	},
	examples: [[{ type: "trashReport", nodes: ["node-1", "node-2"], instances: 2 }]]
};

const Live: JsonSchema = {
	type: "object",
	required: ["status", "nodeID", "uptime"],
	properties: { status: { const: "live" }, nodeID: { type: "string" }, uptime: { type: "integer", minimum: 0, description: "Seconds." } },
	additionalProperties: false
};

const checks = {
	type: "object",
	additionalProperties: { type: "string" },
	description: '`"ok"` or what is wrong, per check (`broker`, `transporter`, `service:<name>`, `store:<name>`).'
};

const Readiness: JsonSchema = {
	type: "object",
	required: ["status", "checks"],
	properties: { status: { const: "ready" }, checks },
	additionalProperties: false
};

const NotReady: JsonSchema = {
	type: "object",
	required: ["name", "message", "code", "type", "data"],
	properties: {
		name: { type: "string" },
		message: { type: "string" },
		code: { const: 503 },
		type: { const: "NOT_READY" },
		data: { type: "object", required: ["checks"], properties: { checks }, additionalProperties: false }
	},
	additionalProperties: false
};

const OpenApiDocument: JsonSchema = {
	type: "object",
	required: ["openapi", "info", "paths"],
	properties: { openapi: { type: "string", pattern: "^3\\.1\\." }, info: { type: "object" }, paths: { type: "object" } },
	description: "This document."
};

/** Every component schema, by name. */
export const SCHEMAS = {
	Error: ErrorShape,
	ValidationError,
	Movie,
	MoviePage,
	MovieRemoved,
	CanLevel,
	CanLevels,
	GeoPoint,
	Can,
	Cans,
	LevelPoints,
	Collections,
	ReportAccepted,
	ReportRecord,
	Workers,
	Live,
	Readiness,
	NotReady,
	OpenApiDocument
} satisfies Record<string, JsonSchema>;

export type SchemaName = keyof typeof SCHEMAS;

export const ref = (name: SchemaName) => ({ $ref: `#/components/schemas/${name}` });
