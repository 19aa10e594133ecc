/** Reading what the broker's Prometheus reporter serves, for tests that compare it with what was done. */

export interface Sample {
	name: string;
	labels: Record<string, string>;
	value: number;
}

/** Parses the Prometheus text format (the subset the reporter writes: no timestamps, no escapes in values). */
export function parseMetrics(text: string): Sample[] {
	const samples: Sample[] = [];
	for (const line of text.split("\n")) {
		if (line === "" || line.startsWith("#")) continue;
		const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
		if (!m) throw new Error(`Not a Prometheus sample line: ${line}`);
		const labels: Record<string, string> = {};
		for (const [, key, value] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
			labels[key] = value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
		samples.push({ name: m[1], labels, value: Number(m[3]) });
	}
	return samples;
}

export async function scrape(url: string): Promise<Sample[]> {
	const res = await fetch(url);
	if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
	return parseMetrics(await res.text());
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
	return samples.filter(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

const PROMQL_WORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"]);

/**
 * The metric names a PromQL expression reads: what is left once strings, label matchers,
 * grouping clauses, ranges, function calls and keywords are taken out.
 */
export function metricNamesIn(expr: string): string[] {
	const stripped = expr
		.replace(/"(?:[^"\\]|\\.)*"/g, '""')
		.replace(/\{[^}]*\}/g, " ")
		.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
		.replace(/\[[^\]]*\]/g, " ")
		.replace(/\b[a-zA-Z_]\w*\s*\(/g, "(");
	const names = (stripped.match(/\b[a-zA-Z_:][\w:]*\b/g) ?? []).filter(w => !PROMQL_WORDS.has(w.toLowerCase()) && !/^\d/.test(w));
	return [...new Set(names)];
}

/** One `name{label op "value", …}` of a PromQL expression. */
export interface Selector {
	name: string;
	matchers: { label: string; op: "=" | "!=" | "=~" | "!~"; value: string }[];
}

/** Every selector of an expression: each metric `metricNamesIn` finds, with the label matchers written beside it. */
export function selectorsIn(expr: string): Selector[] {
	return metricNamesIn(expr).flatMap(name =>
		[...expr.matchAll(new RegExp(`\\b${name}\\b\\s*(?:\\{([^}]*)\\})?`, "g"))].map(([, inside = ""]) => ({
			name,
			matchers: [...inside.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(([, label, op, value]) => ({
				label,
				op: op as Selector["matchers"][number]["op"],
				// a PromQL string's escapes (`\\` → `\`)
				value: value.replace(/\\(.)/g, "$1")
			}))
		}))
	);
}

/** Whether Prometheus would pick this sample for the selector (regexes are anchored; an absent label is ""). */
export function selects(selector: Selector, sample: Sample): boolean {
	if (sample.name !== selector.name) return false;
	return selector.matchers.every(({ label, op, value }) => {
		const actual = sample.labels[label] ?? "";
		if (op === "=") return actual === value;
		if (op === "!=") return actual !== value;
		const hit = new RegExp(`^(?:${value})$`).test(actual);
		return op === "=~" ? hit : !hit;
	});
}
