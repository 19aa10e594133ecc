/**
 * fastest-validator rules → JSON Schema 2020-12 (lib/openapi/json-schema.ts): each kind of rule,
 * the rules that cannot be said exactly (they throw), and — with generated values — that the JSON
 * Schema of a field accepts exactly what the validator accepts, for the rules the document leans
 * on: trimmed lengths, the report's level text, and the whole report.
 */
import Ajv2020 from "ajv/dist/2020";
import fc from "fast-check";
import Validator from "fastest-validator";
import type { ValidationRule, ValidationSchema } from "fastest-validator";
import { InexpressibleRule, paramsSchema, toJsonSchema, trimmedLengthPattern } from "../../lib/openapi/json-schema";
import { printable } from "../../lib/contracts";
import { LEVEL_TEXT, reportParams } from "../../lib/ingest/report";

const ajv = new Ajv2020({ strict: true, allErrors: true });
const validator = new Validator();

describe("each rule", () => {
	it.each<[string, ValidationRule | string, object]>([
		["a shorthand", "string|optional|min:2", { type: ["string", "null"], minLength: 2 }],
		["a shorthand array", "number[]", { type: "array", items: { type: "number" } }],
		["string bounds and pattern", { type: "string", min: 1, max: 9, pattern: /^\w+$/ }, { type: "string", minLength: 1, maxLength: 9, pattern: "^\\w+$" }],
		["a pattern given as text", { type: "string", pattern: "^a|b$" }, { type: "string", pattern: "^a|b$" }],
		["a string enum", { type: "string", enum: ["a", "b"] }, { type: "string", enum: ["a", "b"] }],
		["a non-empty string", { type: "string", empty: false }, { type: "string", minLength: 1 }],
		["a numeric string", { type: "string", numeric: true }, { type: "string", pattern: "^-?[0-9]\\d*(\\.\\d+)?$" }],
		["a trimmed string", { type: "string", trim: true, min: 1, max: 3 }, { type: "string", pattern: "^\\s*(?:\\S|\\S[\\s\\S]{0,1}\\S)\\s*$" }],
		["an integer", { type: "number", integer: true, min: 1, max: 9, convert: true }, { type: "integer", minimum: 1, maximum: 9 }],
		["a positive number", { type: "number", positive: true }, { type: "number", exclusiveMinimum: 0 }],
		["a boolean", { type: "boolean" }, { type: "boolean" }],
		["an enum", { type: "enum", values: [1, "a"] }, { enum: [1, "a"] }],
		["an email", { type: "email" }, { type: "string", format: "email" }],
		["an equal", { type: "equal", value: true, strict: true }, { const: true }],
		["nullable", { type: "string", nullable: true }, { type: ["string", "null"] }],
		["a default", { type: "number", default: 5 }, { type: "number", default: 5 }],
		[
			"an array",
			{ type: "array", items: "string" as never, min: 1, max: 3, unique: true },
			{ type: "array", items: { type: "string" }, minItems: 1, maxItems: 3, uniqueItems: true }
		],
		[
			"a strict object",
			{ type: "object", strict: true, props: { a: "string", b: { type: "number", optional: true } } },
			{ type: "object", properties: { a: { type: "string" }, b: { type: ["number", "null"] } }, required: ["a"], additionalProperties: false }
		],
		["alternatives", ["string", { type: "number", min: 0 }] as never, { anyOf: [{ type: "string" }, { type: "number", minimum: 0 }] }],
		["a description", { type: "any", description: "anything" }, { description: "anything" }]
	])("%s", (_name, rule, schema) => {
		expect(toJsonSchema(rule)).toEqual(schema);
	});

	it("params: `$$strict: remove` drops unknown fields (allowed), optional and defaulted fields are not required, null is a missing optional field", () => {
		expect(paramsSchema({ a: "string", b: "string|optional", c: { type: "number", default: 1 }, $$strict: "remove" })).toEqual({
			type: "object",
			properties: { a: { type: "string" }, b: { type: ["string", "null"] }, c: { type: "number", default: 1 } },
			required: ["a"],
			additionalProperties: true
		});
		expect(paramsSchema({ $$strict: true })).toEqual({ type: "object", properties: {}, additionalProperties: false });
	});
});

describe("rules that JSON Schema cannot say exactly throw, naming the field", () => {
	it.each<[string, ValidationSchema, RegExp]>([
		["a custom function", { level: { type: "any", custom: (v: unknown) => v } }, /level: a custom check function/],
		["an unknown rule", { at: { type: "date" } }, /at: the "date" rule/],
		["a key the converter does not know", { s: { type: "string", lowercase: true } }, /s: "lowercase" of a string rule/],
		["a pattern with flags", { s: { type: "string", pattern: /a/i } }, /s: pattern flags "i"/],
		["a pattern that lost its RegExp on the bus", { s: { type: "string", pattern: {} as never } }, /s: a pattern that is neither text nor a RegExp/],
		["trim with a pattern", { s: { type: "string", trim: true, pattern: /a/ } }, /s: trim with a pattern/],
		["a nested custom", { o: { type: "object", props: { x: { type: "number", custom: () => 1 } } } }, /o\.x: a custom check function/]
	])("%s", (_name, params, message) => {
		expect(() => paramsSchema(params)).toThrow(InexpressibleRule);
		expect(() => paramsSchema(params)).toThrow(message);
	});
});

/** The validator's and the JSON Schema's verdicts on the same values must agree. */
function sameVerdicts(rule: ValidationRule, values: fc.Arbitrary<unknown>) {
	const byValidator = validator.compile({ v: rule, $$strict: "remove" }) as (o: object) => true | unknown[];
	const byJsonSchema = ajv.compile({
		type: "object",
		properties: { v: toJsonSchema(rule, "v") },
		required: (rule as { optional?: boolean }).optional ? [] : ["v"]
	});
	fc.assert(
		fc.property(values, value => {
			expect([value, byJsonSchema({ v: value })]).toEqual([value, byValidator({ v: value }) === true]);
		}),
		{ numRuns: 2_000, seed: 20 }
	);
}

// with control characters (U+0000, U+001F, U+007F) and a space that trim() removes but is no control (U+00A0)
const spacey = fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "a", "b", "1", "0", ".", "-", "5", "\u0000", "\u001f", "\u007f", "\u00a0"), maxLength: 12 });

describe("the schema accepts exactly what the validator accepts", () => {
	it.each([
		[0, 3],
		[1, 1],
		[1, 4],
		[2, 5],
		[3, 3],
		[0, 0]
	])("a trimmed string of %i to %i characters", (min, max) => {
		sameVerdicts({ type: "string", trim: true, min, max }, spacey);
	});

	it("a trimmed string of printable characters", () => {
		sameVerdicts(printable({ type: "string", trim: true, min: 1, max: 4 }), spacey);
		sameVerdicts(printable({ type: "string", min: 1, max: 4 }), spacey);
	});

	it("trimmedLengthPattern without an upper bound", () => {
		const re = new RegExp(trimmedLengthPattern(2), "u");
		fc.assert(fc.property(spacey, s => expect(re.test(s)).toBe(s.trim().length >= 2)));
	});

	it("LEVEL_TEXT is a plain decimal from 0 to 100", () => {
		const digits = fc.string({ unit: fc.constantFrom("0", "1", "5", "9", ".", "-", " ", "e", "x"), maxLength: 8 });
		fc.assert(
			fc.property(fc.oneof(digits, fc.double({ min: -10, max: 110, noNaN: true }).map(String)), text => {
				const plain = /^\s*-?\d+(\.\d+)?\s*$/.test(text);
				expect([text, LEVEL_TEXT.test(text)]).toEqual([text, plain && Number(text) >= 0 && Number(text) <= 100]);
			}),
			{ numRuns: 5_000, seed: 7 }
		);
	});

	it("the report's params, field by field", () => {
		const value = fc.oneof(
			spacey,
			fc.constantFrom(
				"30.65",
				"-0",
				"100.0",
				"101",
				"2026-01-01",
				"2026-01-01T10:00:00Z",
				"2026-01-01T10:00:00.5+02:00",
				"c".repeat(64),
				` ${"c".repeat(64)} `,
				"c".repeat(65)
			),
			fc.integer({ min: -5, max: 120 }),
			fc.double({ noNaN: true, noDefaultInfinity: true, min: -1, max: 101 }),
			fc.constantFrom(null, true, false, {}, [], [1])
		);
		for (const [field, rule] of Object.entries(reportParams)) if (!field.startsWith("$$")) sameVerdicts(rule as ValidationRule, value);
	});
});
