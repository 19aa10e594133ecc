/**
 * What an operator sees, on a NATS deployment of separate processes (PostgreSQL store), each
 * with its own /metrics and JSON logs:
 *  - the business metrics count exactly what a known sequence of requests and reports did;
 *  - every metric the Grafana dashboard and the alert rules query is one the system exports;
 *  - a request id (X-Request-ID, or a generated one) is on every log line of its request, in
 *    every process the request went through.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { CHANNEL } from "../../lib/ingest/report";
import { startDeployment } from "../../harness/deployment";
import type { Deployment, Proc } from "../../harness/deployment";
import { metricNamesIn, scrape, total } from "../support/metrics";
import type { Sample } from "../support/metrics";
import { eventually } from "../../harness/system";

const MONITORING = path.resolve(__dirname, "../../monitoring");

let dep: Deployment;
beforeAll(async () => {
	dep = await startDeployment("nats", { env: { METRICS: "true", LOG_FORMAT: "json", LOG_LEVEL: "debug" } });
}, 90_000);
afterAll(() => dep?.stop());

const procsRunning = (service: string) => dep.procs.filter(p => p.services.includes(service as never));
const scrapeAll = async (procs: Proc[] = dep.procs): Promise<Sample[]> => (await Promise.all(procs.map(p => scrape(p.metricsUrl!)))).flat();

/** What changed between two scrapes, for counters summed over every process. */
const delta = (before: Sample[], after: Sample[], name: string, labels: Record<string, string> = {}) =>
	total(after, name, labels) - total(before, name, labels);

/** The JSON log lines of a process. */
const logLines = (proc: Proc) =>
	proc.output
		.split("\n")
		.filter(line => line.startsWith("{"))
		.map(line => JSON.parse(line) as { msg: string; level: string; mod: string; requestID?: string });

describe("business metrics", () => {
	let before: Sample[];
	let after: Sample[];
	const reportIds: string[] = [];

	beforeAll(async () => {
		before = await scrapeAll();
		// The known sequence: 8 movie requests (one a 404) and 4 good reports through the gateway, one bad report on the bus.
		const ids: string[] = [];
		for (const title of ["Alien", "Heat", "Ran"]) ids.push((await dep.request("POST", "/movies", { title })).body.id);
		expect((await dep.get("/movies")).status).toBe(200);
		expect((await dep.get(`/movies/${ids[0]}`)).status).toBe(200);
		expect((await dep.request("PUT", `/movies/${ids[1]}`, { year: 1995 })).status).toBe(200);
		expect((await dep.request("DELETE", `/movies/${ids[2]}`)).status).toBe(200);
		expect((await dep.get("/movies/no-such-movie")).status).toBe(404);

		// recent enough that no can is silent (SILENT_AFTER, 1 h): the only alerts are the ones below
		const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
		const reports = [
			{ can_id: "m1", level: "95", reportedAt: minutesAgo(20) },
			{ can_id: "m2", level: "40", reportedAt: minutesAgo(20) },
			{ can_id: "m3", level: "85.5", reportedAt: minutesAgo(20) },
			{ can_id: "m1", level: "50", reportedAt: minutesAgo(10) }
		];
		for (const report of reports) {
			const res = await dep.request("POST", "/levels", report);
			expect(res.status).toBe(202);
			reportIds.push(res.body.id);
		}
		await dep.broker.sendToChannel(CHANNEL, { can_id: "m4", level: "very full" });
		// polled through the test's own broker: only the calls above go through the gateway
		await eventually(async () => {
			const statuses = await Promise.all(reportIds.map(id => dep.broker.call<{ status: string }, object>("trashReport.status", { id })));
			return statuses.every(s => s.status === "applied");
		}, 15_000);
		await eventually(async () => total(await scrapeAll(procsRunning("trashReport")), "trash_reports_rejected_total") === 1, 10_000);
		// every replica reads the levels from the store every few seconds
		await eventually(async () => {
			const samples = await scrapeAll(procsRunning("trashReport"));
			return samples.filter(s => s.name === "trash_can_level" && s.labels.can_id === "m1" && s.value === 50).length === 2;
		}, 10_000);
		after = await scrapeAll();
	}, 60_000);

	it("counts every HTTP request and every call it made, by service", () => {
		const received = (service: string, type = "request") => delta(before, after, "microservices_messages_received_total", { service, type });
		const sent = (service: string, type = "request") => delta(before, after, "microservices_messages_sent_total", { service, type });
		expect(received("rest")).toBe(12); // 8 movie requests + 4 reports
		expect(received("pilot")).toBe(8);
		expect(received("db")).toBe(8);
		expect(sent("rest")).toBe(12);
		expect(sent("pilot")).toBe(8); // one db call per pilot job
		expect(sent("pilot", "event")).toBe(5); // movie.created ×3, updated, removed
		expect(delta(before, after, "microservices_job_processing_seconds_count", { service: "pilot", job_type: "create" })).toBe(3);
		expect(delta(before, after, "microservices_job_processing_seconds_count", { service: "db", job_type: "remove" })).toBe(1);
	});

	it("counts the failed job where it failed and where it passed through", () => {
		const errors = (service: string) => delta(before, after, "microservices_job_errors_total", { service });
		expect(errors("db")).toBe(1);
		expect(errors("pilot")).toBe(1);
		// every error type is exported from the start (at 0): the one that moved is the 404
		expect(after.find(s => s.name === "microservices_job_errors_total" && s.labels.service === "db" && s.value > 0)?.labels.error_type).toBe(
			"EntityNotFoundError"
		);
	});

	it("counts reports received, applied and rejected (with the reason), summed over replicas", () => {
		expect(delta(before, after, "trash_reports_received_total")).toBe(5);
		expect(delta(before, after, "trash_reports_applied_total")).toBe(4);
		expect(delta(before, after, "trash_reports_duplicate_total")).toBe(0);
		expect(delta(before, after, "trash_reports_rejected_total", { reason: "level" })).toBe(1);
		expect(delta(before, after, "microservices_messages_received_total", { service: "trashReport", type: "report" })).toBe(5);
		// the report action published 4; the consumer dead-lettered 1 and raised 3 alerts (m1 and m3
		// full, m1 emptied: 95 → 50), each on the durable alert channel
		expect(delta(before, after, "microservices_messages_sent_total", { service: "trashReport", type: "report" })).toBe(8);
	});

	it("shows each can's newest level and the full cans on every trashReport replica", () => {
		for (const proc of procsRunning("trashReport")) {
			const mine = after.filter(s => s.labels.nodeID === proc.nodeID);
			const level = (canId: string) => mine.find(s => s.name === "trash_can_level" && s.labels.can_id === canId)?.value;
			expect([level("m1"), level("m2"), level("m3"), level("m4")]).toEqual([50, 40, 85.5, undefined]);
			expect(total(mine, "trash_full_cans")).toBe(1); // m3; m1 was full, then emptied
		}
	});

	it("counts the live workers by type, as the registry sees them", () => {
		const gateway = after.filter(s => s.labels.nodeID === dep.procs.find(p => p.name === "gateway")!.nodeID);
		const workers = (type: string) => total(gateway, "microservices_workers_total", { type });
		expect([workers("db"), workers("trashReport"), workers("pilot"), workers("rest"), workers("systemManager"), workers("simulator")]).toEqual([
			2, 2, 1, 1, 1, 1
		]);
		expect(total(gateway, "microservices_connected_workers")).toBe(dep.procs.length);
	});

	it("exports every metric the Grafana dashboard and the alert rules query", () => {
		const dashboard = JSON.parse(fs.readFileSync(path.join(MONITORING, "grafana/dashboards/trash-bus.json"), "utf8")) as {
			panels: { targets?: { expr: string }[] }[];
		};
		const alerts = YAML.parse(fs.readFileSync(path.join(MONITORING, "alerts.yml"), "utf8")) as { groups: { rules: { expr: string }[] }[] };
		const exprs = [...dashboard.panels.flatMap(p => p.targets ?? []).map(t => t.expr), ...alerts.groups.flatMap(g => g.rules.map(r => r.expr))];
		const queried = new Set(exprs.flatMap(metricNamesIn));
		expect(queried.size).toBeGreaterThan(10);
		// `up` is written by Prometheus itself for every target
		const exported = new Set([...after.map(s => s.name), "up"]);
		expect([...queried].filter(name => !exported.has(name))).toEqual([]);
	});
});

describe("request ids", () => {
	it("puts the client's X-Request-ID on every log line of its request, in every process", async () => {
		const res = await dep.request("POST", "/movies", { title: "Solaris" }, { "X-Request-ID": "req-solaris-1" });
		expect(res.status).toBe(201);
		expect(res.headers.get("x-request-id")).toBe("req-solaris-1");
		const movieId = res.body.id as string;

		const gateway = dep.procs.find(p => p.name === "gateway")!;
		const pilot = dep.procs.find(p => p.name === "pilot")!;
		const tagged = (proc: Proc) => logLines(proc).filter(l => l.requestID === "req-solaris-1");
		// log lines reach the test through pipes, possibly after the response did
		await eventually(
			() => logLines(pilot).some(l => l.msg.includes(`Movie ${movieId} created`)) && tagged(gateway).some(l => l.msg.includes("<= 201 POST /movies"))
		);
		expect(tagged(gateway).map(l => l.msg)).toEqual(
			expect.arrayContaining([expect.stringMatching(/=> POST \/movies/), expect.stringMatching(/<= 201 POST \/movies/)])
		);
		expect(tagged(pilot).map(l => l.msg)).toContain(`Movie ${movieId} created`);
		// every line about this movie, wherever written, carries the id
		const aboutIt = dep.procs.flatMap(logLines).filter(l => l.msg.includes(movieId));
		expect(aboutIt.length).toBeGreaterThan(0);
		expect(aboutIt.filter(l => l.requestID !== "req-solaris-1")).toEqual([]);
	});

	it("follows a report from the gateway to the replica that applied it", async () => {
		const res = await dep.request("POST", "/levels", { can_id: "r1", level: "12" }, { "X-Request-ID": "req-report-7" });
		expect(res.status).toBe(202);
		const applied = new RegExp(`Applied report ${res.body.id}`);
		await eventually(() => dep.procs.some(p => logLines(p).some(l => applied.test(l.msg))));
		const lines = dep.procs.flatMap(logLines).filter(l => applied.test(l.msg));
		expect(lines.map(l => [l.mod, l.requestID])).toEqual([["trashReport", "req-report-7"]]);
	});

	it("generates an id when the client sends none or an unusable one, and answers it", async () => {
		for (const given of [undefined, "two words", "x".repeat(200), "semi;colon", '{"json":1}']) {
			const res = await dep.request("GET", "/levels", undefined, given === undefined ? {} : { "X-Request-ID": given });
			expect(res.status).toBe(200);
			expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
		}
	});
});
