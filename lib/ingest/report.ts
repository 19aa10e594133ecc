import Validator from "fastest-validator";
import type { ValidationError as FvError, ValidationSchema, ValidationRuleObject } from "fastest-validator";
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

type Custom = NonNullable<ValidationRuleObject["custom"]>;
type Errors = Parameters<Custom>[1];

const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;
/** Reports stamped further ahead than this are refused: a clock running fast would otherwise pin a can's level forever. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

// fastest-validator's own `convert` turns "" into 0 and objects into "[object Object]",
// so the seed format's loose fields get strict custom converters instead.
// A factory, not a shared object: fastest-validator caches compiled rules per rule object, and
// with one object behind both fields `canId` came out unconverted (test/unit/report.spec.ts).
const canIdRule = (): ValidationRuleObject => ({
	type: "any",
	optional: true,
	custom: ((value: unknown, errors: Errors) => {
		if (value == null) return value; // optional; the can_id-or-canId rule is checked below
		if (typeof value === "number" && Number.isInteger(value) && value >= 0) return String(value);
		if (typeof value !== "string") {
			errors.push({ type: "string", actual: value });
			return value;
		}
		const id = value.trim();
		if (id.length === 0) errors.push({ type: "stringEmpty", actual: value });
		else if (id.length > 64) errors.push({ type: "stringMax", expected: 64, actual: id.length });
		return id;
	}) as Custom
});

/** The params of a report in the seed format `{"can_id":"333","level":"30.65"}` (`canId` also accepted). */
export const reportParams: ValidationSchema = {
	id: { type: "string", min: 1, max: 128, pattern: /^[\w.:-]+$/, optional: true },
	can_id: canIdRule(),
	canId: canIdRule(),
	level: {
		type: "any",
		custom: ((value: unknown, errors: Errors) => {
			const n = typeof value === "number" ? value : typeof value === "string" && NUMERIC.test(value) ? Number(value) : NaN;
			if (!Number.isFinite(n)) {
				errors.push({ type: "number", actual: value });
				return value;
			}
			if (n < 0) errors.push({ type: "numberMin", expected: 0, actual: n });
			else if (n > 100) errors.push({ type: "numberMax", expected: 100, actual: n });
			return n;
		}) as Custom
	},
	reportedAt: {
		type: "any",
		optional: true,
		custom: ((value: unknown, errors: Errors) => {
			if (value == null) return value;
			const ms = typeof value === "number" ? value : typeof value === "string" ? Date.parse(value) : NaN;
			if (!Number.isFinite(ms)) {
				errors.push({ type: "date", actual: value });
				return value;
			}
			if (ms > Date.now() + MAX_CLOCK_SKEW_MS) {
				errors.push({ type: "dateMax", expected: "now + 5 min", actual: value });
				return value;
			}
			return new Date(ms).toISOString();
		}) as Custom
	},
	$$strict: "remove"
};

const validator = new Validator({
	useNewCustomCheckerFunction: true,
	messages: { dateMax: "The '{field}' field must not be in the future ({expected})." }
});
const check = validator.compile(reportParams) as (value: object) => true | FvError[];

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
	const canId = (params.canId ?? params.can_id) as string | undefined;
	if (canId === undefined && !errors.some(e => e.field === "can_id" || e.field === "canId"))
		errors.push({ type: "required", field: "can_id", message: "The 'can_id' field is required.", actual: undefined } as FvError);
	if (errors.length > 0) return { ok: false, reason: errors.map(e => e.message).join(" "), errors };
	return {
		ok: true,
		report: {
			id: (params.id as string | undefined) ?? fallback.id,
			canId: canId!,
			level: params.level as number,
			reportedAt: (params.reportedAt as string | undefined) ?? fallback.reportedAt
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
