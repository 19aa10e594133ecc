/**
 * The system spread over processes the way compose and Kubernetes run it: one OS process per
 * service (two `db`, two `trashReport`), all on a real NATS or RabbitMQ, sharing a real
 * PostgreSQL. The test joins the bus as one more node, so it can call actions, listen to events
 * and publish reports like any service would.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { createBroker } from "../broker";
export { ingestStats } from "../lib/ingest/stats";
import type { ServiceName } from "../lib/config";
import { freePort } from "./servers";
import { eventually, httpClient, startSystem } from "./system";
import type { System } from "./system";

export type DeploymentKind = "embedded" | "nats" | "amqp";

const ROOT = path.resolve(__dirname, "..");

/** `dist/bin/start.js` (what `npm start` runs) as its own OS process, its output collected. */
export interface AppProcess {
	child: ChildProcess;
	output: string;
	exited: Promise<number | null>;
}

/** Runs `cmd args` in `cwd` with exactly `env`, its output collected. */
export function spawnApp(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): AppProcess {
	const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
	const proc: AppProcess = { child, output: "", exited: new Promise(resolve => child.on("exit", code => resolve(code))) };
	child.stdout!.on("data", chunk => (proc.output += chunk));
	child.stderr!.on("data", chunk => (proc.output += chunk));
	return proc;
}

/**
 * The Node flags `npm start` runs the app with: package.json's start script is their one home (the
 * Dockerfile's NODE_OPTIONS are checked against it in deploy.spec.ts), so that every spawned
 * service process runs as a user's does.
 */
export const START_FLAGS: string[] = (() => {
	const start: string = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts.start;
	const flags = /^exec node (.*) dist\/bin\/start\.js$/.exec(start);
	if (!flags) throw new Error(`package.json's start script is not "exec node <flags> dist/bin/start.js": ${start}`);
	return flags[1].split(" ");
})();

let built = false;
/** What `npm start`'s prestart does: compile to dist/ when a source is newer (once per test or bench process). */
export function ensureBuilt(): void {
	if (built) return;
	execFileSync(process.execPath, [path.join(ROOT, "scripts/build.js"), "--if-stale"], { cwd: ROOT, stdio: "inherit" });
	built = true;
}

/** Starts `dist/bin/start.js` (no TypeScript loader, as `npm start`) with the test's environment plus `env`. */
export function startProcess(env: Record<string, string>): AppProcess {
	ensureBuilt();
	return spawnApp(process.execPath, [...START_FLAGS, "dist/bin/start.js"], ROOT, { ...process.env, ...env });
}

/** Sends `signal` (SIGKILL after 10 s) and waits for the exit; nothing to do if it has exited. */
export async function stopApp(proc: AppProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
	if (proc.child.exitCode != null || proc.child.signalCode != null) return;
	proc.child.kill(signal);
	const timer = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
	await proc.exited;
	clearTimeout(timer);
}

/** One OS process of the deployment. */
export interface Proc extends AppProcess {
	name: string;
	nodeID: string;
	services: ServiceName[];
	/** `http://127.0.0.1:<port>/metrics` when the deployment runs with METRICS=true. */
	metricsUrl?: string;
}

export interface Deployment extends System {
	kind: DeploymentKind;
	procs: Proc[];
	/** Starts one more process (or starts a killed one again under the same node id). */
	spawn(name: string, services: ServiceName[]): Promise<Proc>;
	kill(proc: Proc, signal?: NodeJS.Signals): Promise<void>;
	env: Record<string, string>;
}

/** A fresh database on the test PostgreSQL (TEST_PG_URL, started by the global setup). */
export async function freshDatabase(prefix: string): Promise<string> {
	const base = process.env.TEST_PG_URL;
	if (!base) throw new Error("TEST_PG_URL is not set: the jest global setup starts PostgreSQL (see test/support/global-setup.ts)");
	const name = `${prefix}_${process.pid}_${Date.now()}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
	const client = new Client({ connectionString: `${base}/postgres` });
	await client.connect();
	try {
		await client.query(`CREATE DATABASE "${name}"`);
	} finally {
		await client.end();
	}
	return `${base}/${name}`;
}

export function transporterUrl(kind: Exclude<DeploymentKind, "embedded">): string {
	const url = kind === "nats" ? process.env.TEST_NATS_URL : process.env.TEST_AMQP_URL;
	if (!url) throw new Error(`No test ${kind} server: the jest global setup starts one (see test/support/global-setup.ts)`);
	return url;
}

/** The layout of the multi-process deployments: one process per service, two of the stateful ones. */
export const LAYOUT: [string, ServiceName[]][] = [
	["gateway", ["rest", "systemManager"]],
	["pilot", ["pilot"]],
	["db-1", ["db"]],
	["db-2", ["db"]],
	["trashReport-1", ["trashReport"]],
	["trashReport-2", ["trashReport"]],
	["simulator", ["simulator"]]
];

let seq = 0;
/**
 * Jest loads this module afresh for every test file of one process, so `seq` starts over in each:
 * this token keeps two files' deployments from sharing a namespace (and so NATS streams, durable
 * consumers and RabbitMQ queues, which outlive a deployment on the shared servers).
 */
const FILE_TOKEN = randomBytes(3).toString("hex");

/**
 * Starts a deployment. "embedded" is the in-process system of the core issue; "nats" and "amqp"
 * spawn `LAYOUT` as separate `node dist/bin/start.js` processes and wait until the gateway is ready
 * and every replica is registered.
 */
export async function startDeployment(
	kind: DeploymentKind,
	{ layout = LAYOUT, transporter, env: extraEnv = {} }: { layout?: typeof LAYOUT; transporter?: string; env?: Record<string, string> } = {}
): Promise<Deployment> {
	if (kind === "embedded") {
		const sys = await startSystem();
		return { ...sys, kind, procs: [], env: {}, spawn: () => Promise.reject(new Error("embedded has no processes")), kill: () => Promise.resolve() };
	}
	const run = `${kind}${++seq}`;
	const port = await freePort();
	const env: Record<string, string> = {
		TRANSPORTER: transporter ?? transporterUrl(kind),
		NAMESPACE: `${run}-${process.pid}-${FILE_TOKEN}`,
		METRICS: "false",
		SIM_AUTOSTART: "false",
		LOG_LEVEL: "warn",
		...extraEnv
	};
	// a fresh PostgreSQL database unless the caller names its store (the bench's peer row: memory://)
	env.DB_URI ??= await freshDatabase(run);
	const procs: Proc[] = [];

	const spawnProc = async (name: string, services: ServiceName[]): Promise<Proc> => {
		const nodeID = `${name}-${run}`;
		// with metrics on, each process gets its own reporter port (in production each has 3030)
		const metricsPort = env.METRICS === "true" ? await freePort() : undefined;
		const app = startProcess({
			...env,
			SERVICES: services.join(","),
			NODE_ID: nodeID,
			PORT: services.includes("rest") ? String(port) : "0",
			...(metricsPort ? { METRICS_PORT: String(metricsPort) } : {})
		});
		const proc: Proc = Object.assign(app, { name, nodeID, services, ...(metricsPort ? { metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` } : {}) });
		const old = procs.findIndex(p => p.name === name);
		if (old >= 0) procs.splice(old, 1, proc);
		else procs.push(proc);
		return proc;
	};

	for (const [name, services] of layout) await spawnProc(name, services);

	// The test's own node on the same bus: no services of the system, just a client of them. No
	// metrics: outside jest (the bench) its reporter would take METRICS_PORT's 3030 on the host.
	const broker = await createBroker(
		[],
		{
			nodeID: `test-${run}`,
			namespace: env.NAMESPACE,
			...(env.SERIALIZER ? { serializer: env.SERIALIZER as never } : {}),
			logger: false,
			metrics: { enabled: false }
		},
		{},
		env.TRANSPORTER
	);
	const url = `http://127.0.0.1:${port}`;
	const http = httpClient(url);

	const expected = new Map<string, number>();
	for (const [, services] of layout) for (const s of services) expected.set(s, (expected.get(s) ?? 0) + 1);
	try {
		await broker.start();
		await eventually(
			async () => {
				const ready = await http.get("/health/ready");
				if (ready.status !== 200) return false;
				const workers = (await http.get("/workers")).body as { type: string; instances: number }[];
				if (![...expected].every(([type, n]) => workers.find(w => w.type === type)?.instances === n)) return false;
				// the test's node discovers on its own: until it has seen every replica, its calls are not balanced
				const seen = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string }[];
				return [...expected].every(([type, n]) => seen.filter(s => s.name === type).length === n);
			},
			60_000,
			200
		);
	} catch (err) {
		// never leave processes behind: they would keep jest (and the servers) running
		const logs = procs.map(p => `--- ${p.name} ---\n${p.output.slice(-2_000)}`).join("\n");
		await Promise.all(procs.map(p => stopApp(p, "SIGKILL")));
		await broker.stop().catch(() => undefined);
		throw new Error(`${kind} deployment did not become ready: ${(err as Error).message}\n${logs}`);
	}

	return {
		kind,
		broker,
		url,
		...http,
		procs,
		env,
		spawn: spawnProc,
		kill: stopApp,
		async stop() {
			await broker.stop();
			await Promise.all(procs.map(p => stopApp(p, "SIGTERM")));
		}
	};
}

/** One request of a load: when it started (ms since the load began), how long it took, and its status. */
export interface Sample {
	at: number;
	ms: number;
	status: number | string;
}

/**
 * GET /movies from `concurrency` loops until `stop()`; outcomes counted by status (or error name),
 * never thrown, and every request's latency kept (`samples`, `since` = when the load began).
 */
export function steadyLoad(sys: System, concurrency = 4, maxRequests = 5_000) {
	const statuses = new Map<number | string, number>();
	const samples: Sample[] = [];
	const since = performance.now();
	let running = true;
	let sent = 0;
	const loop = async () => {
		while (running && sent < maxRequests) {
			sent++;
			const at = performance.now();
			const status = await sys.get("/movies?pageSize=5").then(
				r => r.status,
				(err: Error) => err.name
			);
			samples.push({ at: at - since, ms: performance.now() - at, status });
			statuses.set(status, (statuses.get(status) ?? 0) + 1);
		}
	};
	const loops = Array.from({ length: concurrency }, loop);
	return {
		/** ms since the load began */
		now: () => performance.now() - since,
		async stop() {
			running = false;
			await Promise.all(loops);
			const total = [...statuses.values()].reduce((a, b) => a + b, 0);
			const ok = statuses.get(200) ?? 0;
			return { total, ok, failed: total - ok, statuses: Object.fromEntries(statuses), samples };
		}
	};
}

/** The `p`-th percentile (0–100) of the latencies of the samples that started within [from, to). */
export function percentile(samples: Sample[], p: number, from = 0, to = Infinity): number {
	const ms = samples
		.filter(s => s.at >= from && s.at < to)
		.map(s => s.ms)
		.sort((a, b) => a - b);
	return ms.length === 0 ? NaN : ms[Math.min(ms.length - 1, Math.floor((ms.length * p) / 100))];
}

/** The contract's main rows, quickly: a movie round trip, a report applied, every worker known. */
export async function contractHolds(sys: System): Promise<void> {
	const created = await sys.request("POST", "/movies", { title: `Back ${Date.now()}`, genres: ["drama"] });
	if (created.status !== 201) throw new Error(`POST /movies answered ${created.status}: ${JSON.stringify(created.body)}`);
	const fetched = await sys.get(`/movies/${created.body.id}`);
	if (fetched.body.title !== created.body.title || fetched.body.genres?.[0] !== "drama")
		throw new Error(`GET /movies/:id answered ${JSON.stringify(fetched.body)}`);
	if ((await sys.request("DELETE", `/movies/${created.body.id}`)).status !== 200) throw new Error("DELETE /movies/:id failed");
	// 503 means "retry later" (e.g. while the bus elects a new leader): a client retries
	const report = await eventually(
		async () => {
			const res = await sys.request("POST", "/levels", { can_id: "777", level: "12.5" });
			if (res.status !== 202 && res.status !== 503) throw new Error(`POST /levels answered ${res.status}: ${JSON.stringify(res.body)}`);
			return res.status === 202 && res;
		},
		15_000,
		250
	);
	await eventually(async () => (await sys.get(`/reports/${report.body.id}`)).body.status === "applied", 10_000);
	const types = ((await sys.get("/workers")).body as { type: string }[]).map(w => w.type);
	for (const type of ["db", "pilot", "rest", "systemManager", "trashReport"]) if (!types.includes(type)) throw new Error(`no ${type} in /workers: ${types}`);
}
