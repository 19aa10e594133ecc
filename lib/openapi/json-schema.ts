/**
 * fastest-validator schemas (the `params` of our actions) as JSON Schema 2020-12, for the OpenAPI
 * document. Only what can be said exactly is converted: a rule that JSON Schema cannot express
 * (a `custom` function, a key this file does not know) throws, so the document can never describe
 * less, or other, than what the validator checks. Put such a constraint in a declarative form
 * (a `pattern`, a `multi` of rules) instead; lib/ingest/report.ts shows how.
 */
import Validator from "fastest-validator";
import type { ValidationRule, ValidationSchema } from "fastest-validator";

export type JsonSchema = { [key: string]: unknown };

/** A rule of the validator that has no exact JSON Schema form. */
export class InexpressibleRule extends Error {
	constructor(path: string, why: string) {
		super(`${path || "params"}: ${why}`);
		this.name = "InexpressibleRule";
	}
}

type Rule = Record<string, unknown> & { type: string };

const shorthand = new Validator() as unknown as { parseShortHand(text: string): Rule };

/** Keys every rule may carry; they constrain nothing, or are handled here for every type. */
const COMMON = new Set(["type", "optional", "nullable", "default", "label", "messages", "description"]);
/** The keys each supported type understands (anything else throws). */
const KNOWN: Record<string, Set<string>> = {
	any: new Set(),
	string: new Set(["min", "max", "length", "pattern", "patternFlags", "trim", "empty", "enum", "numeric", "alpha", "alphanum", "alphadash", "hex"]),
	number: new Set(["min", "max", "equal", "integer", "positive", "negative", "convert"]),
	boolean: new Set(["convert"]),
	object: new Set(["props", "properties", "strict", "minProps", "maxProps"]),
	array: new Set(["items", "min", "max", "length", "empty", "unique", "enum"]),
	enum: new Set(["values"]),
	email: new Set(["min", "max", "empty"]),
	equal: new Set(["value", "strict"]),
	multi: new Set(["rules"])
};

/** fastest-validator's own patterns for its string flags. */
const STRING_FLAGS: Record<string, RegExp> = {
	numeric: /^-?[0-9]\d*(\.\d+)?$/,
	alpha: /^[a-zA-Z]+$/,
	alphanum: /^[a-zA-Z0-9]+$/,
	alphadash: /^[a-zA-Z0-9_-]+$/,
	hex: /^[0-9a-fA-F]+$/
};

function normalise(rule: ValidationRule | string, path: string): Rule {
	if (typeof rule === "string") return shorthand.parseShortHand(rule);
	if (Array.isArray(rule)) return { type: "multi", rules: rule };
	if (rule == null || typeof rule !== "object") throw new InexpressibleRule(path, `not a rule: ${String(rule)}`);
	if (typeof (rule as { $$type?: unknown }).$$type === "string") {
		// the object shorthand: { $$type: "object|optional", a: "string" }
		const { $$type, ...props } = rule as Record<string, unknown>;
		return { ...shorthand.parseShortHand($$type as string), props };
	}
	if (!("type" in rule)) throw new InexpressibleRule(path, "a rule without a type");
	return rule as Rule;
}

/** `^…$` of a JavaScript RegExp as a JSON Schema `pattern` (ECMA-262, which JSON Schema uses too). */
function patternOf(pattern: unknown, flags: unknown, path: string): string {
	const [source, actualFlags] = pattern instanceof RegExp ? [pattern.source, pattern.flags] : [String(pattern), String(flags ?? "")];
	if (typeof pattern !== "string" && !(pattern instanceof RegExp)) throw new InexpressibleRule(path, "a pattern that is neither text nor a RegExp");
	// a JSON Schema pattern has no flags: only ones that change nothing here pass
	if (actualFlags.replace(/[u]/g, "") !== "") throw new InexpressibleRule(path, `pattern flags "${actualFlags}"`);
	return source;
}

/**
 * A string whose length after `trim()` is within [min, max], as one pattern: the trimmed text
 * starts and ends with a non-space (`\s` is exactly what `trim()` removes).
 */
export function trimmedLengthPattern(min = 0, max = Infinity): string {
	if (max < min) throw new RangeError(`max ${max} < min ${min}`);
	if (max === 0) return "^\\s*$";
	const lo = Math.max(min, 1);
	const parts: string[] = [];
	if (lo === 1) parts.push("\\S");
	if (max >= 2) parts.push(`\\S[\\s\\S]{${Math.max(lo, 2) - 2},${max === Infinity ? "" : max - 2}}\\S`);
	return `^\\s*(?:${parts.join("|")})${min === 0 ? "?" : ""}\\s*$`;
}

/** A pattern of any number of characters of one class, `^[…]*$` (no `]` inside). */
const CLASS_REPEATED = /^\^\[[^\]]*\]\*\$$/;

function stringSchema(rule: Rule, path: string): JsonSchema {
	const schema: JsonSchema = { type: "string" };
	let min = rule.min as number | undefined;
	let max = rule.max as number | undefined;
	if (rule.length != null) min = max = rule.length as number;
	if (rule.empty === false) min = Math.max(min ?? 0, 1);
	const patterns: string[] = [];
	if (rule.pattern != null) patterns.push(patternOf(rule.pattern, rule.patternFlags, path));
	for (const [flag, re] of Object.entries(STRING_FLAGS)) if (rule[flag] === true) patterns.push(re.source);
	if (rule.trim === true) {
		// The checks apply to the trimmed text. Its length can be said in one pattern; so can "every
		// character in a class" (`^[…]*$`): the trimmed text is within the raw text's inner part,
		// which a `^\s*[…]*\s*$` match makes all class characters. Other patterns cannot.
		if (rule.enum != null || !patterns.every(p => CLASS_REPEATED.test(p))) throw new InexpressibleRule(path, "trim with a pattern or an enum");
		patterns.forEach((p, i) => (patterns[i] = `^\\s*${p.slice(1, -1)}\\s*$`));
		if (min != null || max != null) patterns.push(trimmedLengthPattern(min, max));
	} else {
		if (min != null) schema.minLength = min;
		if (max != null) schema.maxLength = max;
	}
	if (patterns.length === 1) schema.pattern = patterns[0];
	else if (patterns.length > 1) schema.allOf = patterns.map(pattern => ({ pattern }));
	if (rule.enum != null) schema.enum = rule.enum;
	return schema;
}

function numberSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: rule.integer === true ? "integer" : "number" };
	if (rule.min != null) schema.minimum = rule.min;
	if (rule.max != null) schema.maximum = rule.max;
	if (rule.positive === true) schema.exclusiveMinimum = 0;
	if (rule.negative === true) schema.exclusiveMaximum = 0;
	if (rule.equal != null) schema.const = rule.equal;
	return schema;
}

/** `{ properties, required }` of an object's props; `strict: true` refuses unknown keys, `"remove"` drops them. */
function objectSchema(props: Record<string, ValidationRule>, strict: unknown, path: string): JsonSchema {
	const properties: Record<string, JsonSchema> = {};
	const required: string[] = [];
	for (const [key, prop] of Object.entries(props)) {
		if (key.startsWith("$$")) continue;
		const field = path ? `${path}.${key}` : key;
		const rule = normalise(prop, field);
		properties[key] = toJsonSchema(rule, field);
		if (rule.optional !== true && rule.default === undefined) required.push(key);
	}
	return {
		type: "object",
		properties,
		...(required.length > 0 ? { required } : {}),
		additionalProperties: strict !== true
	};
}

/** One fastest-validator rule (object, shorthand string or array of alternatives) as JSON Schema. */
export function toJsonSchema(input: ValidationRule | string, path = ""): JsonSchema {
	const rule = normalise(input, path);
	if (rule.custom != null) throw new InexpressibleRule(path, "a custom check function");
	const known = KNOWN[rule.type];
	if (!known) throw new InexpressibleRule(path, `the "${rule.type}" rule`);
	for (const key of Object.keys(rule))
		if (!COMMON.has(key) && !known.has(key) && rule[key] !== undefined && rule[key] !== false)
			throw new InexpressibleRule(path, `"${key}" of a ${rule.type} rule`);

	let schema: JsonSchema;
	switch (rule.type) {
		case "any":
			schema = {};
			break;
		case "string":
			schema = stringSchema(rule, path);
			break;
		case "email":
			schema = stringSchema({ ...rule, type: "string" }, path);
			schema.format = "email";
			break;
		case "number":
			schema = numberSchema(rule);
			break;
		case "boolean":
			schema = { type: "boolean" };
			break;
		case "enum":
			schema = { enum: rule.values };
			break;
		case "equal":
			if (rule.strict !== true && typeof rule.value !== "string") throw new InexpressibleRule(path, "a loose equal of a non-string");
			schema = { const: rule.value };
			break;
		case "object": {
			const props = (rule.props ?? rule.properties) as Record<string, ValidationRule> | undefined;
			schema = props ? objectSchema(props, rule.strict, path) : { type: "object" };
			if (rule.minProps != null) schema.minProperties = rule.minProps;
			if (rule.maxProps != null) schema.maxProperties = rule.maxProps;
			break;
		}
		case "array": {
			schema = { type: "array" };
			if (rule.items != null) schema.items = toJsonSchema(rule.items as ValidationRule, `${path}[]`);
			const min = rule.length ?? (rule.empty === false ? Math.max((rule.min as number) ?? 0, 1) : rule.min);
			const max = rule.length ?? rule.max;
			if (min != null) schema.minItems = min;
			if (max != null) schema.maxItems = max;
			if (rule.unique === true) schema.uniqueItems = true;
			if (rule.enum != null) schema.items = { enum: rule.enum };
			break;
		}
		case "multi":
			schema = { anyOf: (rule.rules as ValidationRule[]).map((r, i) => toJsonSchema(r, `${path}<${i}>`)) };
			break;
		default:
			throw new InexpressibleRule(path, `the "${rule.type}" rule`);
	}
	// fastest-validator takes null for a missing optional field: it is accepted, so it is documented
	if (rule.nullable === true || rule.optional === true)
		schema = schema.type ? { ...schema, type: [schema.type, "null"].flat() } : { anyOf: [schema, { type: "null" }] };
	if (rule.default !== undefined && typeof rule.default !== "function") schema.default = rule.default;
	if (typeof rule.description === "string") schema.description = rule.description;
	return schema;
}

/** An action's `params` as the JSON Schema of one object; `$$strict` as in fastest-validator. */
export function paramsSchema(params: ValidationSchema | undefined): JsonSchema & { properties: Record<string, JsonSchema>; required?: string[] } {
	return objectSchema((params ?? {}) as Record<string, ValidationRule>, (params as { $$strict?: unknown } | undefined)?.$$strict, "") as never;
}
