/**
 * What Prometheus reads from a process that has done nothing yet: every counter whose label values
 * are known up front is there with 0, so a dashboard shows 0 rather than "no data", `rate()` is
 * not empty, and `increase()` sees the first rejection or failure after a restart.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { ALL_SERVICES } from "../../lib/config";
import { JOB_ERROR_TYPES } from "../../lib/contracts";
import { REJECTION_REASONS } from "../../lib/ingest/report";
import { JOB_METRICS, MESSAGE_TYPES } from "../../middlewares/job-metrics.middleware";
import { freePort } from "../../harness/servers";
import { startSystem } from "../../harness/system";
import type { System } from "../../harness/system";
import { scrape, selectorsIn, selects } from "../support/metrics";
import type { Sample } from "../support/metrics";

const MONITORING = path.resolve(__dirname, "../../monitoring");

let sys: System;
let fresh: Sample[];
beforeAll(async () => {
	const port = await freePort();
	sys = await startSystem(ALL_SERVICES, { metrics: { enabled: true, reporter: [{ type: "Prometheus", options: { port, path: "/metrics" } }] } });
	fresh = await scrape(`http://127.0.0.1:${port}/metrics`);
});
afterAll(() => sys?.stop());

const value = (name: string, labels: Record<string, string>) =>
	fresh.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

it("exports every rejection reason at 0", () => {
	expect(REJECTION_REASONS.map(reason => [reason, value("trash_reports_rejected_total", { reason })])).toEqual(REJECTION_REASONS.map(reason => [reason, 0]));
	for (const name of ["trash_reports_received_total", "trash_reports_applied_total", "trash_reports_duplicate_total", "trash_full_cans"])
		expect(value(name, {})).toBe(0);
});

it("exports every job error type of every service at 0", () => {
	const expected = ALL_SERVICES.flatMap(service => Object.keys(JOB_ERROR_TYPES).map(error_type => [service, error_type, 0]));
	const exported = ALL_SERVICES.flatMap(service =>
		Object.keys(JOB_ERROR_TYPES).map(error_type => [service, error_type, value(JOB_METRICS.errors, { service, error_type })])
	);
	expect(exported).toEqual(expected);
});

it("exports what every service received and sent, by message type, the broker's own sends included", () => {
	const missing = [...ALL_SERVICES, "broker"].flatMap(service =>
		MESSAGE_TYPES.flatMap(type =>
			[JOB_METRICS.received, JOB_METRICS.sent]
				.filter(name => (name === JOB_METRICS.sent || service !== "broker") && value(name, { service, type }) === undefined)
				.map(name => `${name}{service=${service},type=${type}}`)
		)
	);
	expect(missing).toEqual([]);
	// nothing was asked of the system yet: no request reached a service
	expect(ALL_SERVICES.map(service => value(JOB_METRICS.received, { service, type: "request" }))).toEqual(ALL_SERVICES.map(() => 0));
});

it("gives every counter the Grafana dashboard and the alert rules read a series: 0, not no data", () => {
	const dashboard = JSON.parse(fs.readFileSync(path.join(MONITORING, "grafana/dashboards/trash-bus.json"), "utf8")) as {
		panels: { targets?: { expr: string }[] }[];
	};
	const alerts = YAML.parse(fs.readFileSync(path.join(MONITORING, "alerts.yml"), "utf8")) as { groups: { rules: { expr: string }[] }[] };
	const exprs = [...dashboard.panels.flatMap(p => p.targets ?? []).map(t => t.expr), ...alerts.groups.flatMap(g => g.rules.map(r => r.expr))];
	// our own counters; the framework's moleculer_* ones appear with the first call of each action
	const counters = exprs.flatMap(selectorsIn).filter(s => s.name.endsWith("_total") && !s.name.startsWith("moleculer_"));
	expect(counters.length).toBeGreaterThan(10);
	const empty = counters.filter(selector => !fresh.some(sample => selects(selector, sample)));
	expect(empty).toEqual([]);
});
