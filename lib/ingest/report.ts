import Validator from "fastest-validator";
import type { ValidationError as FvError, ValidationSchema, ValidationRuleObject } from "fastest-validator";
import { printable } from "../contracts";
import { Unparseable } from "./parse";
import type { BusIdentity } from "./identity";

/** The channel every producer publishes trash-level reports on. */
export const CHANNEL = "trash-level";
/** Where rejected reports go, with the reason (a JetStream stream / RabbitMQ queue of that name). */
export const DEAD_LETTER_CHANNEL = "trash-level.dead";

/** A trash-level report after validation: the form every consumer and store works with. */
export interface LevelReport {
	id: string;
	canId: string;
	level: number;
	reportedAt: string; // ISO-8601
}

/**
 * A level as text, the seed format's `"30.65"`: a plain decimal from 0 to 100 (spaces around it
 * allowed, `"-0"` is 0), in one pattern so that the OpenAPI document says exactly what is accepted.
 */
export const LEVEL_TEXT = /^\s*(?:-0+(?:\.0+)?|0*(?:\d{1,2}(?:\.\d+)?|100(?:\.0+)?))\s*$/;
/** An ISO-8601 date, or date and time (with seconds, fractions and a zone optional). */
export const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;
/** Reports stamped further ahead than this are refused: a clock running fast would otherwise pin a can's level forever. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

// Every rule is declarative (lib/openapi/json-schema.ts turns it into the document's schema);
// checkReport converts what passed. fastest-validator's own `convert` would turn "" into 0 and
// objects into "[object Object]", hence alternatives of exact types instead.
// Factories, not shared objects: fastest-validator caches compiled rules per rule object, and
// with one object behind both fields `canId` came out unconverted (test/unit/report.spec.ts).
const canIdRule = (): ValidationRuleObject => ({
	type: "multi",
	optional: true, // the can_id-or-canId rule is checked in checkReport
	rules: [printable({ type: "string", trim: true, min: 1, max: 64 }), { type: "number", integer: true, min: 0 }]
});

/** A report names its can with either field (`canId` wins when both are given). */
export const CAN_ID_FIELDS = ["can_id", "canId"] as const;

/** The params of a report in the seed format `{"can_id":"333","level":"30.65"}` (`canId` also accepted). */
export const reportParams: ValidationSchema = {
	// patterns as text: the params cross the bus (INFO packets) to the gateway's OpenAPI document, a RegExp would not
	id: { type: "string", min: 1, max: 128, pattern: "^[\\w.:-]+$", optional: true },
	can_id: canIdRule(),
	canId: canIdRule(),
	level: {
		type: "multi",
		rules: [
			{ type: "number", min: 0, max: 100 },
			{ type: "string", pattern: LEVEL_TEXT.source }
		]
	},
	reportedAt: {
		type: "multi",
		optional: true,
		description: `At most ${MAX_CLOCK_SKEW_MS / 60_000} minutes ahead of the server's clock; the time the report was received when left out.`,
		rules: [
			{ type: "string", pattern: ISO_8601.source },
			{ type: "number", description: "epoch milliseconds" }
		]
	},
	$$strict: "remove"
};

const check = new Validator().compile(reportParams) as (value: object) => true | FvError[];

/** The report's time as an ISO string, or the error that makes it unusable (the rules above passed). */
function reportTime(value: string | number, errors: FvError[]): string | undefined {
	const ms = typeof value === "number" ? value : Date.parse(value);
	const date = Number.isFinite(ms) ? new Date(ms) : null;
	if (!date || Number.isNaN(date.getTime())) {
		errors.push({ type: "date", field: "reportedAt", actual: value, message: "The 'reportedAt' field must be a Date." } as FvError);
		return undefined;
	}
	if (ms > Date.now() + MAX_CLOCK_SKEW_MS) {
		errors.push({
			type: "dateMax",
			field: "reportedAt",
			expected: "now + 5 min",
			actual: value,
			message: "The 'reportedAt' field must not be in the future (now + 5 min)."
		} as FvError);
		return undefined;
	}
	return date.toISOString();
}

export type CheckResult = { ok: true; report: LevelReport } | { ok: false; reason: string; errors: FvError[] };

/**
 * Validates and normalises a raw report from any producer. `fallback` supplies the id and
 * report time for producers that send neither (the bus's sequence and timestamp).
 */
export function checkReport(raw: unknown, fallback: BusIdentity): CheckResult {
	if (raw == null || typeof raw !== "object" || Array.isArray(raw)) {
		const errors = [{ type: "object", field: "", message: "The report must be a JSON object." }] as FvError[];
		return { ok: false, reason: errors[0].message!, errors };
	}
	const params = { ...(raw as Record<string, unknown>) };
	const res = check(params);
	const errors = res === true ? [] : res;
	const canId = (params.canId ?? params.can_id) as string | number | undefined;
	if (canId === undefined && !errors.some(e => e.field === "can_id" || e.field === "canId"))
		errors.push({ type: "required", field: "can_id", message: "The 'can_id' field is required.", actual: undefined } as FvError);
	const reportedAt =
		params.reportedAt == null || errors.some(e => e.field === "reportedAt") ? undefined : reportTime(params.reportedAt as string | number, errors);
	if (errors.length > 0) return { ok: false, reason: errors.map(e => e.message).join(" "), errors };
	return {
		ok: true,
		report: {
			id: (params.id as string | undefined) ?? fallback.id,
			canId: String(canId),
			// a number, or text that LEVEL_TEXT let through (Number() ignores the spaces around it)
			level: Number(params.level),
			reportedAt: reportedAt ?? fallback.reportedAt
		}
	};
}

/**
 * A string that sorts like the reports it stands for: by report time, ties broken by id, so
 * every replica and every store agrees on which report of a can is the newest.
 * (`reportedAt` is always `Date#toISOString()`, fixed width, so it sorts as text.)
 */
export function reportVersion(report: { reportedAt: string; id: string }): string {
	return `${new Date(report.reportedAt).toISOString()}|${report.id}`;
}

const digit = (t: string, i: number) => t.charCodeAt(i) - 48;
const pair = (t: string, i: number) => digit(t, i) * 10 + digit(t, i + 1);
/**
 * Epoch ms of a stored report time, which is a valid `Date#toISOString()` (`YYYY-MM-DDTHH:mm:ss.sssZ`):
 * read by position, three times faster than `Date.parse`, which a batch called for every row of
 * every window it read. Any other form (a year before 100 or after 9999) goes to `Date.parse`.
 */
export function reportTimeMs(t: string): number {
	const year = pair(t, 0) * 100 + pair(t, 2);
	return t.length === 24 && t.charCodeAt(23) === 90 && year >= 100
		? Date.UTC(year, pair(t, 5) - 1, pair(t, 8), pair(t, 11), pair(t, 14), pair(t, 17), digit(t, 20) * 100 + pair(t, 21))
		: Date.parse(t);
}

/** Sorts can ids the way people read them: "2" before "10". */
export const byCanId = new Intl.Collator("en", { numeric: true }).compare;

const NOT_JSON = { ok: false, reason: "The report is not JSON.", errors: [{ type: "json", field: "body", message: "The report is not JSON." }] } as CheckResult;

/** `checkReport` of a message taken from the channel, whose body may not have been JSON. */
export function checkMessage(body: unknown, fallback: BusIdentity): CheckResult {
	return body instanceof Unparseable ? NOT_JSON : checkReport(body, fallback);
}

/** Why a report was refused, as counted (`trash_reports_rejected_total{reason}`) and dead-lettered. */
export type RejectionReason = (typeof REJECTION_REASONS)[number];
/**
 * Every reason a report can be refused for: the report's field that failed first (`body` when it
 * is no JSON object), or `bus_unavailable` when `POST /levels` could not queue it.
 */
export const REJECTION_REASONS = ["id", "can_id", "canId", "level", "reportedAt", "body", "bus_unavailable"] as const;

/** A rejected report as it goes to the dead letters: what came, and why, for whoever fixes the producer. */
export interface DeadLetter {
	reason: string;
	field: RejectionReason;
	report: unknown;
	id: string;
	receivedAt: string;
}

export function deadLetter(rejected: Extract<CheckResult, { ok: false }>, body: unknown, fallback: BusIdentity, receivedAt: string): DeadLetter {
	return {
		reason: rejected.reason,
		field: (rejected.errors[0]?.field || "body") as RejectionReason,
		report: body instanceof Unparseable ? body.text : body,
		id: fallback.id,
		receivedAt
	};
}
