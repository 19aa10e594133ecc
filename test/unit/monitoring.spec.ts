/**
 * The alert rules and the dashboard read our metrics' label values: the job-errors alert must
 * count exactly the server-side (5xx) error types, and the selector reader must read PromQL right.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { JOB_ERROR_TYPES } from "../../lib/contracts";
import { selectorsIn, selects } from "../support/metrics";

const alerts = YAML.parse(fs.readFileSync(path.resolve(__dirname, "../../monitoring/alerts.yml"), "utf8")) as {
	groups: { rules: { alert: string; expr: string }[] }[];
};
const rule = (name: string) => alerts.groups.flatMap(g => g.rules).find(r => r.alert === name)!;

it("reads each selector's label matchers, escapes and all", () => {
	expect(selectorsIn('sum(rate(a_total{x="1", y!~"b\\\\..*"}[5m])) / sum(a_total) > 0 and up{job="j"} == 0')).toEqual([
		{
			name: "a_total",
			matchers: [
				{ label: "x", op: "=", value: "1" },
				{ label: "y", op: "!~", value: "b\\..*" }
			]
		},
		{ name: "a_total", matchers: [] },
		{ name: "up", matchers: [{ label: "job", op: "=", value: "j" }] }
	]);
});

it("the job-errors alert counts every 5xx error type our jobs raise and no 4xx one", () => {
	const [errors] = selectorsIn(rule("TrashBusJobErrors").expr).filter(s => s.name === "microservices_job_errors_total");
	const counted = Object.keys(JOB_ERROR_TYPES).filter(error_type => selects(errors, { name: errors.name, labels: { service: "db", error_type }, value: 0 }));
	const serverSide = Object.entries(JOB_ERROR_TYPES)
		.filter(([, status]) => status >= 500)
		.map(([type]) => type);
	expect(counted.sort()).toEqual(serverSide.sort());
});

it("knows every error type the services throw with a status", () => {
	const sources = ["services", "services/rest", "mixins", "lib/ingest"].flatMap(dir =>
		fs
			.readdirSync(path.resolve(__dirname, "../..", dir))
			.filter(f => f.endsWith(".ts"))
			.map(f => fs.readFileSync(path.resolve(__dirname, "../..", dir, f), "utf8"))
	);
	// new Errors.XxxError(message, 404, "TYPE", …) and new Errors.ValidationError(message, "TYPE", …)
	const thrown = new Set(sources.flatMap(src => [...src.matchAll(/new Errors\.\w+\([^;]*?,\s*(?:\d{3},\s*)?"([A-Z][A-Z_]+)"/g)].map(m => m[1])));
	expect(thrown.size).toBeGreaterThan(4);
	expect([...thrown].filter(type => !(type in JOB_ERROR_TYPES))).toEqual([]);
});
