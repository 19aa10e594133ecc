/**
 * `npm run bench`: issue #7's benchmark suite in one run, loopback only, bounded (≈ 6 min on 2 cores).
 *
 *   1  the gateway calling local actions: all services in one `npm start` process (baseline A)
 *   2  GET /levels, GET /movies: gateway → NATS → remote service processes
 *   3  the same over RabbitMQ (compared with row 2)
 *   4  POST /movies (gateway → pilot → db) on NATS (compared with row 1's POST)
 *   5  a report burst through the durable channel on NATS and on RabbitMQ, against raw nats;
 *      5d–5j issue #16's measure, seed-format reports of 1 000 cans from plain clients: a backlog
 *      drained by a raw JetStream pull consumer (5d), by the system with N consumers (5e) and with
 *      one (5f); the pipelined producer alone (5g) and a live burst from it (5h); a RabbitMQ
 *      backlog drained by a raw amqplib consumer (5i) and by the system (5j); the ceiling of 5e–5h
 *      with this store, its work alone: a raw JetStream consumer feeding applyBatch, no broker (5k)
 *   6  start-to-ready of `npm start`, and the resident memory of every process under load
 *   7  `npm start` as a user runs it (NeDB) against plain node:http answering the same JSON (issue #21),
 *      loaded in turns of one second; for GET /levels also the framework's floor (7e: Moleculer and
 *      moleculer-web with their defaults answering the same JSON, bench/bare-gateway.ts)
 *   8  with --peer: GET /levels over the same nats-server on a NestJS (Fastify) gateway and microservice
 *      (bench/peer, installed on first use) and on ours, both from memory (issue #18)
 *
 * A progress bar on stderr, then the table on stdout; bench/results.json and the table in
 * docs/benchmarks.md are rewritten. Options:
 *   --smoke              1 s per HTTP row, 1 000 reports, results to a temp file, docs untouched
 *   --results <file>     where the JSON goes (default bench/results.json)
 *   --docs <file|none>   the markdown to refresh (default docs/benchmarks.md)
 *   --only <list>        embedded,nats,amqp,ingest,peer (a partial run never touches the docs)
 *   --peer               adds row 8 (phase "peer") to the run; the default run never installs the peer
 *   --profile <dir>      service processes run with --cpu-prof, profiles in <dir>
 *   --consumers <n>      trashReport processes in the ingest rows but 5f (default 3)
 * Servers: a NATS (JetStream), RabbitMQ and PostgreSQL of its own on free ports, those the phases
 * need, unless TEST_NATS_URL / TEST_AMQP_URL / TEST_PG_URL name running ones (as under jest).
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isDeepStrictEqual, parseArgs, promisify } from "node:util";
import autocannon from "autocannon";
import { freshDatabase, startDeployment } from "../harness/deployment";
import type { Deployment } from "../harness/deployment";
import { freePort, startNats, startPostgres, startRabbit } from "../harness/servers";
import type { RunningServer } from "../harness/servers";
import { eventually, httpClient } from "../harness/system";
import { childrenOf, processCpuSeconds, settled, systemCpuSeconds } from "./cpu";
import { amqpBacklog, ingest, natsBacklog, rawNats, storeAloneDrain } from "./ingest";
import type { Drain } from "./ingest";
import { machine, markdown, PEER_DEPLOYMENT, refreshDoc, targets } from "./report";
import type { ProcessMemory, Results, Row } from "./report";

const ROOT = path.resolve(__dirname, "..");
const { values: args } = parseArgs({
	options: {
		smoke: { type: "boolean", default: false },
		results: { type: "string" },
		docs: { type: "string" },
		only: { type: "string", default: "embedded,nats,amqp,ingest" },
		profile: { type: "string" },
		consumers: { type: "string", default: "3" },
		peer: { type: "boolean", default: false }
	}
});
const SMOKE = args.smoke || process.env.BENCH_SMOKE === "1";
const CONNECTIONS = 16;
const DURATION_S = SMOKE ? 1 : Number(process.env.BENCH_DURATION_S ?? 6);
const REPORTS = SMOKE ? 1_000 : Number(process.env.BENCH_REPORTS ?? 100_000);
const PHASES = new Set(args.only!.split(",").map(s => s.trim()));
if (args.peer) PHASES.add("peer");
const FULL = ["embedded", "nats", "amqp", "ingest"].every(p => PHASES.has(p));
const RESULTS = path.resolve(
	args.results ?? (SMOKE || !FULL ? path.join(os.tmpdir(), `trash-bus-bench-${process.pid}.json`) : path.join(ROOT, "bench/results.json"))
);
const DOCS = args.docs === "none" || SMOKE || !FULL ? null : path.resolve(args.docs ?? path.join(ROOT, "docs/benchmarks.md"));
// What every service process runs with: production defaults (metrics on, info logs) except the
// per-client rate limit, which a load generator on one address would hit at once.
const SERVICE_ENV: Record<string, string> = {
	RATE_LIMIT: "0",
	METRICS: "true",
	METRICS_PORT: "0",
	LOG_LEVEL: "info",
	SIM_AUTOSTART: "false",
	...(args.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(args.profile)}` } : {})
};

// ---------------------------------------------------------------------------------------------
// Progress bar: one line on stderr, the current step and the share of the planned time done.

const plan: [string, number][] = [];
let doneWeight = 0;
let step = { label: "starting the servers", weight: 0, since: Date.now() };
const totalWeight = () => plan.reduce((a, [, w]) => a + w, 0);
const tty = process.stderr.isTTY === true;
function draw() {
	const inStep = Math.min((Date.now() - step.since) / 1000 / Math.max(step.weight, 1), 0.95) * step.weight;
	const share = Math.min((doneWeight + inStep) / Math.max(totalWeight(), 1), 1);
	const width = 30;
	const filled = Math.round(share * width);
	process.stderr.write(
		`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ${step.label}`.padEnd(110).slice(0, 110)
	);
}
const ticker = tty ? setInterval(draw, 250) : undefined;
async function stepOf<T>(label: string, weight: number, work: () => Promise<T>): Promise<T> {
	step = { label, weight, since: Date.now() };
	if (!tty) process.stderr.write(`${label}…\n`);
	try {
		return await work();
	} finally {
		doneWeight += weight;
	}
}
function planned(label: string, seconds: number) {
	plan.push([label, seconds]);
}

// ---------------------------------------------------------------------------------------------
// Memory: VmRSS of every service process, sampled while its deployment is under load.

const memory = new Map<string, ProcessMemory>();
function rssMB(pid: number): number {
	try {
		const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
		return kb ? Number(kb) / 1024 : 0;
	} catch {
		return 0;
	}
}
function sampleMemory(deployment: string, procs: { name: string; pid: () => number | undefined }[]) {
	const timer = setInterval(() => {
		for (const p of procs) {
			const pid = p.pid();
			if (!pid) continue;
			const key = `${deployment}/${p.name}`;
			const mb = rssMB(pid);
			const seen = memory.get(key);
			if (!seen) memory.set(key, { deployment, process: p.name, maxRssMB: mb });
			else seen.maxRssMB = Math.max(seen.maxRssMB, mb);
		}
	}, 500);
	return () => clearInterval(timer);
}
/** A deployment's processes, each by name: one restarted under its name is followed, one stopped is not. */
const procsOf = (sys: Deployment) =>
	sys.procs.map(({ name }) => ({
		name,
		pid: () => {
			const child = sys.procs.find(p => p.name === name)?.child;
			return child && child.exitCode == null && child.signalCode == null ? child.pid : undefined;
		}
	}));

// ---------------------------------------------------------------------------------------------
// HTTP rows

const rows: Row[] = [];
type Endpoint = { method: "GET" | "POST"; path: string; body?: string };
const GET_LEVELS: Endpoint = { method: "GET", path: "/levels" };
const GET_MOVIES: Endpoint = { method: "GET", path: "/movies" };
const POST_MOVIE: Endpoint = { method: "POST", path: "/movies", body: JSON.stringify({ title: "Bench", year: 1979, genres: ["sci-fi"] }) };

/** `serverPid`: the process serving HTTP, whose own CPU per request is reported too. */
async function load(url: string, e: Endpoint, seconds: number, serverPid?: number) {
	const cpuBefore = systemCpuSeconds();
	const serverBefore = serverPid ? processCpuSeconds(serverPid) : 0;
	const result = await autocannon({
		url: url + e.path,
		method: e.method,
		connections: CONNECTIONS,
		duration: seconds,
		...(e.body ? { body: e.body, headers: { "content-type": "application/json" } } : {})
	});
	const perRequest = (seconds: number) => (seconds / Math.max(result.requests.total, 1)) * 1e6;
	const cpuUsPerItem = perRequest(systemCpuSeconds() - cpuBefore);
	return {
		...(serverPid ? { serverCpuUsPerItem: perRequest(processCpuSeconds(serverPid) - serverBefore) } : {}),
		rate: result.requests.average,
		p50: result.latency.p50,
		p99: result.latency.p99,
		errors: result.errors + result.timeouts + result.non2xx,
		cpuUsPerItem,
		requests: result.requests.total
	};
}

/**
 * Servers loaded in turns of one second, DURATION_S seconds each, the order rotated every round:
 * the machine's speed drifts within seconds here (row 7b moved from 0.59 to 0.33 in three runs
 * within 20 minutes when its 6 s followed row 7a's), and turns give all of them the same moments.
 * The first is the baseline of the others. Rates and CPU are the totals over the turns; p50
 * weighted by requests, p99 the worst turn's.
 */
async function rowsInTurns(sides: { id: string; label: string; url: string; pid?: number }[], e: Endpoint) {
	const turns = new Map(sides.map(side => [side.id, [] as Awaited<ReturnType<typeof load>>[]]));
	const [base, ...others] = sides;
	await stepOf(
		`rows ${sides.map(s => s.id).join(", ")}: ${others.map(s => s.label).join(", ")} against ${base.label}, in turns`,
		sides.length * DURATION_S,
		async () => {
			for (let round = 0; round < DURATION_S; round++)
				for (let i = 0; i < sides.length; i++) {
					const side = sides[(round + i) % sides.length];
					turns.get(side.id)!.push(await load(side.url, e, 1, side.pid));
				}
		}
	);
	const total = (id: string) => {
		const t = turns.get(id)!;
		const requests = t.reduce((sum, w) => sum + w.requests, 0);
		const weighted = (pick: (w: (typeof t)[number]) => number | undefined) =>
			t.reduce((sum, w) => sum + (pick(w) ?? 0) * w.requests, 0) / Math.max(requests, 1);
		return {
			rate: requests / t.length,
			p50: weighted(w => w.p50),
			p99: Math.max(...t.map(w => w.p99)),
			errors: t.reduce((sum, w) => sum + w.errors, 0),
			cpuUsPerItem: weighted(w => w.cpuUsPerItem),
			...(t[0].serverCpuUsPerItem !== undefined ? { serverCpuUsPerItem: weighted(w => w.serverCpuUsPerItem) } : {})
		};
	};
	const baseline = total(base.id);
	for (const side of sides) {
		const r = side === base ? baseline : total(side.id);
		rows.push({ id: side.id, label: side.label, unit: "req/s", ...r, baseline: base.id, ratio: r.rate / baseline.rate });
	}
}

async function httpRow(id: string, label: string, baseline: string, url: string, e: Endpoint, serverPid?: number) {
	const { requests: _requests, ...r } = await stepOf(`row ${id}: ${label}`, DURATION_S, () => load(url, e, DURATION_S, serverPid));
	const base = rows.find(b => b.id === baseline);
	rows.push({ id, label, unit: "req/s", ...r, baseline, ratio: base ? r.rate / base.rate : baseline === id ? 1 : NaN });
}

/** 10 cans with a level, reported through POST /levels and applied: what every GET /levels row reads. */
async function seedLevels(url: string) {
	const http = httpClient(url);
	for (let i = 0; i < 10; i++) {
		const res = await http.request("POST", "/levels", { can_id: String(301 + i), level: (i * 9.5).toFixed(2) });
		if (res.status !== 202) throw new Error(`seeding POST /levels answered ${res.status}: ${JSON.stringify(res.body)}`);
	}
	await eventually(async () => ((await http.get("/levels")).body as unknown[]).length === 10, 15_000, 100);
}

/** Every deployment serves the same data: 10 cans with a level, 20 movies. */
async function seed(url: string) {
	const http = httpClient(url);
	for (let i = 0; i < 20; i++) {
		const res = await http.request("POST", "/movies", { title: `Seed ${i}`, year: 1950 + i });
		if (res.status !== 201) throw new Error(`seeding POST /movies answered ${res.status}: ${JSON.stringify(res.body)}`);
	}
	await seedLevels(url);
	// a short unrecorded run, so no row measures the JIT warming up
	if (!SMOKE) await load(url, GET_MOVIES, 1);
}

// ---------------------------------------------------------------------------------------------
// Deployments

/**
 * Rows 1 and 7: `npm start` itself, timed from the spawn to GET /health/ready 200 (row 6). Row 1's
 * stores are on PostgreSQL, as rows 2–4's are; row 7's are its default NeDB files.
 */
async function startEmbedded({ store }: { store: "postgres" | "nedb" }) {
	const port = await freePort();
	const env: NodeJS.ProcessEnv = {
		...process.env,
		...SERVICE_ENV,
		PORT: String(port),
		DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-bench-"))
	};
	if (store === "postgres") env.DB_URI = await freshDatabase("bench_embedded");
	else delete env.DB_URI;
	delete env.TRANSPORTER;
	delete env.SERVICES;
	// timed on a quiet machine, not with a server still starting beside it (RabbitMQ loads its
	// plugins for seconds after its port opens)
	await settled({ timeoutMs: SMOKE ? 3_000 : 30_000 });
	const started = performance.now();
	const npm = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	npm.stdout.on("data", c => (output += c));
	npm.stderr.on("data", c => (output += c));
	const closed = new Promise<void>(resolve => npm.on("close", () => resolve()));
	const url = `http://127.0.0.1:${port}`;
	// `npm start` execs node in npm's child shell: that child is the app
	const app = () => childrenOf(npm.pid!)[0];
	const stop = async () => {
		const pid = app();
		npm.kill("SIGTERM");
		const timer = setTimeout(() => pid && process.kill(pid, "SIGKILL"), 10_000);
		await closed;
		clearTimeout(timer);
	};
	try {
		await eventually(async () => npm.exitCode == null && (await fetch(`${url}/health/ready`)).status === 200, 30_000, 25);
	} catch (err) {
		await stop();
		throw new Error(`npm start did not become ready: ${(err as Error).message}\n${output.slice(-2_000)}`);
	}
	return { url, startToReadyMs: performance.now() - started, app, stop };
}

/** A node process of the bench's own (plain-http.ts, peer/*.mjs), ready once it sends an IPC message. */
async function spawnServer(args: string[]) {
	const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] });
	await new Promise<void>((resolve, reject) => {
		child.once("message", () => resolve());
		child.once("exit", code => reject(new Error(`${args.join(" ")} exited with ${code}`)));
	});
	const closed = new Promise(resolve => child.once("exit", resolve));
	return { pid: child.pid!, stop: () => (child.kill(), closed) };
}

/** A temp file holding `value` as JSON, for a server process to read. */
function jsonFile(name: string, value: unknown): string {
	const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-bench-")), name);
	fs.writeFileSync(file, JSON.stringify(value));
	return file;
}

/** Row 7's floors (bench/plain-http.ts, bench/bare-gateway.ts), answering `bodies` (path → JSON value). */
async function startFloor(script: string, bodies: Record<string, unknown>) {
	const port = await freePort();
	const server = await spawnServer(["--import", "tsx", script, String(port), jsonFile("bodies.json", bodies)]);
	return { url: `http://127.0.0.1:${port}`, ...server };
}

/** Servers of the bench's own, each ready before the next starts; on a failure, those already started are stopped. */
async function spawnServers(...commands: string[][]) {
	const started: Awaited<ReturnType<typeof spawnServer>>[] = [];
	const stop = () => Promise.all(started.map(s => s.stop()));
	try {
		for (const args of commands) started.push(await spawnServer(args));
	} catch (err) {
		await stop();
		throw err;
	}
	return { pids: started.map(s => s.pid), stop };
}

/** Rows 2c, 2d and 8c: bench/raw-hops.ts's responder, relay and gateway on the nats-server at `natsUrl`. */
async function startRawHops(natsUrl: string, bodies: Record<string, unknown>) {
	const port = await freePort();
	const script = ["--import", "tsx", "bench/raw-hops.ts"];
	const servers = await spawnServers(
		[...script, "answer", natsUrl, jsonFile("bodies.json", bodies)],
		[...script, "relay", natsUrl],
		[...script, "gateway", String(port), natsUrl]
	);
	return { url: `http://127.0.0.1:${port}`, pid: servers.pids[2], stop: servers.stop };
}

/** Row 8d: bench/bare-gateway.ts's gateway calling its actions in a second process over the nats-server at `natsUrl`. */
async function startBareRemote(natsUrl: string, bodies: Record<string, unknown>) {
	const port = await freePort();
	const file = jsonFile("bodies.json", bodies);
	const script = ["--import", "tsx", "bench/bare-gateway.ts"];
	const servers = await spawnServers([...script, "answers", file, natsUrl], [...script, String(port), file, natsUrl]);
	return { url: `http://127.0.0.1:${port}`, pid: servers.pids[1], stop: servers.stop };
}

// ---------------------------------------------------------------------------------------------
// Row 8's peer: bench/peer, a folder with its own package.json, so that only a run with it installs NestJS

const PEER = path.join(ROOT, "bench/peer");

/** Whether bench/peer needs an install: no node_modules yet, or one older than its lock. */
function peerStale(): boolean {
	const mtime = (file: string) => fs.statSync(path.join(PEER, file), { throwIfNoEntry: false })?.mtimeMs;
	// npm writes node_modules/.package-lock.json at the end of every install
	const [installed, lock] = [mtime("node_modules/.package-lock.json"), mtime("package-lock.json")];
	return installed === undefined || (lock !== undefined && installed < lock);
}

/** `npm ci` in bench/peer (`npm install` without a lock); no install script runs, none of its packages needs one. */
async function installPeer() {
	const command = fs.existsSync(path.join(PEER, "package-lock.json")) ? "ci" : "install";
	try {
		await promisify(execFile)("npm", [command, "--prefix", PEER, "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: ROOT });
	} catch (err) {
		const { stdout, stderr } = err as { stdout?: string; stderr?: string };
		throw new Error(`npm ${command} --prefix bench/peer failed: ${(err as Error).message}\n${stdout ?? ""}${stderr ?? ""}`);
	}
}

/** The installed version of one of the peer's packages. */
function peerVersion(pkg: string): string {
	return JSON.parse(fs.readFileSync(path.join(PEER, "node_modules", pkg, "package.json"), "utf8")).version;
}

/** The NestJS gateway (on Fastify) and microservice of bench/peer, on `natsUrl`, the latter answering `levels`. */
async function startPeer(natsUrl: string, levels: unknown) {
	const port = await freePort();
	const servers = await spawnServers(
		["bench/peer/levels-service.mjs", natsUrl, jsonFile("levels.json", levels)],
		["bench/peer/gateway.mjs", String(port), natsUrl]
	);
	const [microservice, gateway] = servers.pids;
	return {
		url: `http://127.0.0.1:${port}`,
		gatewayPid: gateway,
		procs: [
			{ name: "gateway", pid: () => gateway },
			{ name: "microservice", pid: () => microservice }
		],
		stop: servers.stop
	};
}

/** The remote layout of rows 2–4: one process per service on the path, as compose runs them. */
const REMOTE: Parameters<typeof startDeployment>[1] = {
	layout: [
		["gateway", ["rest", "systemManager"]],
		["pilot", ["pilot"]],
		["db", ["db"]],
		["trashReport", ["trashReport"]]
	],
	env: SERVICE_ENV
};

/**
 * Row 8b: ours against the NestJS peer, on the same nats-server. The path of GET /levels is row
 * 2a's (gateway = rest + systemManager → trashReport); pilot and db, off that path, run in a third
 * process because the gateway's readiness needs them. Every store is in memory, as the peer's, and
 * both sides log warnings and errors only (the other rows run at info).
 */
const PEER_OURS: Parameters<typeof startDeployment>[1] = {
	layout: [
		["gateway", ["rest", "systemManager"]],
		["trashReport", ["trashReport"]],
		["movies", ["pilot", "db"]]
	],
	env: { ...SERVICE_ENV, LOG_LEVEL: "warn", DB_URI: "memory://" }
};

/** Row 8: GET /levels on the NestJS peer (8a, the baseline) and on ours (8b), both up during both rows. */
async function peerRows(natsUrl: string) {
	if (peerStale()) await stepOf("installing bench/peer (npm ci --prefix bench/peer)", 20, installPeer);
	const sys = await stepOf("starting our deployment for row 8 (memory store)", 12, () => startDeployment("nats", { ...PEER_OURS, transporter: natsUrl }));
	try {
		await stepOf("seeding row 8's levels", 2, () => seedLevels(sys.url));
		const levels = (await sys.get(GET_LEVELS.path)).body as unknown[];
		const peer = await stepOf("starting the NestJS peer", 2, () => startPeer(natsUrl, levels));
		const stopSampling = [sampleMemory(PEER_DEPLOYMENT, peer.procs), sampleMemory("peer ours", procsOf(sys))];
		// beside them, the same hop with no framework (row 2c's floor) and with Moleculer's and moleculer-web's defaults (row 7e's, across the bus)
		const others: { stop: () => Promise<unknown> }[] = [];
		try {
			const res = await fetch(peer.url + GET_LEVELS.path);
			const theirs = res.ok ? await res.json() : `${res.status} ${await res.text()}`;
			if (levels.length !== 10 || !isDeepStrictEqual(theirs, levels))
				throw new Error(`the peer's GET /levels is not ours:\n${JSON.stringify(theirs)}\n${JSON.stringify(levels)}`);
			const body = { [GET_LEVELS.path]: levels };
			const plain = await stepOf("starting the plain nats hops", 1, () => startRawHops(natsUrl, body));
			others.push(plain);
			const bare = await stepOf("starting Moleculer with its defaults over NATS", 2, () => startBareRemote(natsUrl, body));
			others.push(bare);
			const sides = [
				{
					id: "8a",
					label: `NestJS ${peerVersion("@nestjs/core")} on Fastify ${peerVersion("fastify")} GET /levels: gateway → NATS → microservice (memory)`,
					url: peer.url,
					pid: peer.gatewayPid
				},
				{ id: "8b", label: "GET /levels: gateway → NATS → trashReport (memory)", url: sys.url, pid: sys.procs.find(p => p.name === "gateway")!.child.pid },
				{ id: "8c", label: "GET /levels's JSON: node:http → NATS → a plain nats responder (no framework)", url: plain.url, pid: plain.pid },
				{ id: "8d", label: "Moleculer + moleculer-web with their defaults GET /levels's JSON: gateway → NATS → one action", url: bare.url, pid: bare.pid }
			];
			// short unrecorded runs, so no row measures the JIT warming up
			if (!SMOKE)
				await stepOf("warming up row 8", sides.length, async () => {
					for (const side of sides) await load(side.url, GET_LEVELS, 1);
				});
			// in turns of one second, as row 7: the four see the same moments of the machine
			await rowsInTurns(sides, GET_LEVELS);
		} finally {
			for (const stop of stopSampling) stop();
			await Promise.all([peer.stop(), ...others.map(o => o.stop())]);
		}
	} finally {
		await sys.stop();
	}
}

async function main() {
	// the same weights (≈ seconds) as the steps below
	if (PHASES.has("embedded")) planned("embedded", 12 + 7 * DURATION_S);
	if (PHASES.has("nats")) planned("nats", 16 + 5 * DURATION_S);
	if (PHASES.has("amqp")) planned("amqp", 15 + 2 * DURATION_S);
	if (PHASES.has("ingest")) planned("ingest", 1 + 2 * (15 + REPORTS / 7_000) + 20 + (3 * REPORTS) / 4_000 + 10 + REPORTS / 5_000 + 20 + REPORTS / 3_000);
	if (PHASES.has("peer")) planned("peer", (peerStale() ? 20 : 0) + 25 + 4 * DURATION_S);

	const own: RunningServer[] = [];
	const server = async (envName: string, start: () => Promise<RunningServer>) => {
		if (process.env[envName]) return process.env[envName]!;
		const s = await start();
		own.push(s);
		return s.url;
	};
	// row 6: `npm start` with its defaults (NeDB files), and with DB_URI on PostgreSQL (a fresh database)
	let startToReadyMs = 0;
	let startToReadyPgMs = 0;
	try {
		// only the servers the phases use: row 8 needs NATS alone
		const needs = (...phases: string[]) => phases.some(p => PHASES.has(p));
		const [natsUrl, amqpUrl, pgUrl] = await stepOf("starting the servers", 0, () =>
			Promise.all([
				needs("nats", "ingest", "peer") ? server("TEST_NATS_URL", () => startNats({ jetstream: true })) : "",
				needs("amqp", "ingest") ? server("TEST_AMQP_URL", startRabbit) : "",
				needs("embedded", "nats", "amqp", "ingest") ? server("TEST_PG_URL", startPostgres) : ""
			])
		);
		if (pgUrl) process.env.TEST_PG_URL = pgUrl;

		if (PHASES.has("embedded")) {
			const sys = await stepOf("row 6: npm start on PostgreSQL until ready", 4, () => startEmbedded({ store: "postgres" }));
			startToReadyPgMs = sys.startToReadyMs;
			const stopSampling = sampleMemory("embedded", [{ name: "npm start (all six)", pid: sys.app }]);
			try {
				await stepOf("seeding embedded", 2, () => seed(sys.url));
				await httpRow("1a", "embedded GET /levels", "1a", sys.url, GET_LEVELS, sys.app());
				await httpRow("1b", "embedded GET /movies", "1b", sys.url, GET_MOVIES, sys.app());
				await httpRow("1c", "embedded POST /movies", "1c", sys.url, POST_MOVIE, sys.app());
			} finally {
				stopSampling();
				await sys.stop();
			}
			// row 7: `npm start` exactly as a user runs it (NeDB files), against plain node:http
			// answering the same JSON, each GET loaded in turns with its floors
			const user = await stepOf("row 7: npm start with its defaults", 3, () => startEmbedded({ store: "nedb" }));
			startToReadyMs = user.startToReadyMs;
			const stopSamplingUser = sampleMemory("embedded", [{ name: "npm start (NeDB)", pid: user.app }]);
			try {
				await stepOf("seeding npm start", 2, () => seed(user.url));
				const http = httpClient(user.url);
				const bodies = {
					[GET_LEVELS.path]: (await http.get(GET_LEVELS.path)).body,
					[GET_MOVIES.path]: (await http.get(GET_MOVIES.path)).body
				};
				const plain = await startFloor("bench/plain-http.ts", bodies);
				const bare = await startFloor("bench/bare-gateway.ts", bodies);
				try {
					const node = { url: plain.url, pid: plain.pid };
					const ours = { url: user.url, pid: user.app() };
					await rowsInTurns(
						[
							{ id: "7a", label: "node:http answering GET /levels's JSON", ...node },
							{ id: "7b", label: "npm start (NeDB) GET /levels", ...ours },
							{ id: "7e", label: "Moleculer + moleculer-web with their defaults, a local action answering GET /levels's JSON", url: bare.url, pid: bare.pid }
						],
						GET_LEVELS
					);
					await rowsInTurns(
						[
							{ id: "7c", label: "node:http answering GET /movies's JSON", ...node },
							{ id: "7d", label: "npm start (NeDB) GET /movies", ...ours }
						],
						GET_MOVIES
					);
				} finally {
					await Promise.all([plain.stop(), bare.stop()]);
				}
			} finally {
				stopSamplingUser();
				await user.stop();
			}
		}

		const remote = async (kind: "nats" | "amqp", transporter: string, work: (url: string) => Promise<void>) => {
			const sys = await stepOf(`starting the ${kind} deployment`, 12, () => startDeployment(kind, { ...REMOTE, transporter }));
			const stopSampling = sampleMemory(kind, procsOf(sys));
			try {
				await stepOf(`seeding ${kind}`, 3, () => seed(sys.url));
				await work(sys.url);
			} finally {
				stopSampling();
				await sys.stop();
			}
		};
		if (PHASES.has("nats")) {
			let bodies: Record<string, unknown> = {};
			await remote("nats", natsUrl, async url => {
				await httpRow("2a", "GET /levels: gateway → NATS → trashReport", "1a", url, GET_LEVELS);
				await httpRow("2b", "GET /movies: gateway → NATS → pilot → NATS → db", "1b", url, GET_MOVIES);
				await httpRow("4", "POST /movies: gateway → NATS → pilot → NATS → db", "1c", url, POST_MOVIE);
				const http = httpClient(url);
				bodies = { [GET_LEVELS.path]: (await http.get(GET_LEVELS.path)).body, [GET_MOVIES.path]: (await http.get(GET_MOVIES.path)).body };
			});
			// the floor of rows 2a and 2b: the same hops between plain nats clients, no framework
			const floor = await stepOf("starting the plain nats hops", 1, () => startRawHops(natsUrl, bodies));
			try {
				await httpRow("2c", "GET /levels's JSON: node:http → NATS → a plain nats responder (one hop, no framework)", "7a", floor.url, GET_LEVELS, floor.pid);
				await httpRow("2d", "GET /movies's JSON: node:http → NATS → relay → NATS → responder (two hops, no framework)", "7c", floor.url, GET_MOVIES, floor.pid);
			} finally {
				await floor.stop();
			}
		}
		if (PHASES.has("amqp"))
			await remote("amqp", amqpUrl, async url => {
				await httpRow("3a", "GET /levels: gateway → AMQP → trashReport", "2a", url, GET_LEVELS);
				await httpRow("3b", "GET /movies: gateway → AMQP → pilot → AMQP → db", "2b", url, GET_MOVIES);
			});

		if (PHASES.has("ingest")) {
			/** An ingest row, compared with `baseline` (else a baseline itself); `cost`: what the system lost and what it cost per report. */
			const reportRow = (id: string, label: string, rate: number, baseline?: Row, cost?: Pick<Drain, "lost" | "cpuUs" | "consumersCpuUs">): Row => {
				const row: Row = {
					id,
					label,
					unit: "reports/s",
					rate,
					p50: null,
					p99: null,
					errors: cost?.lost ?? 0,
					cpuUsPerItem: cost?.cpuUs ?? null,
					...(cost ? { serverCpuUsPerItem: cost.consumersCpuUs } : {}),
					baseline: baseline?.id ?? id,
					ratio: rate / (baseline?.rate ?? rate)
				};
				rows.push(row);
				return row;
			};
			const raw = reportRow(
				"5a",
				"raw nats publish → subscribe + JSON.parse",
				await stepOf("row 5a: raw nats publish/subscribe", 1, () => rawNats(natsUrl, REPORTS))
			);
			for (const [id, kind, url] of [
				["5b", "nats", natsUrl],
				["5c", "amqp", amqpUrl]
			] as const) {
				let stopSampling = () => {};
				let consumers: (number | undefined)[] = [];
				const cpu = { before: [0, 0], after: [0, 0] };
				const now = () => [systemCpuSeconds(), processCpuSeconds(...consumers)];
				const r = await stepOf(`row ${id}: ${REPORTS} reports through ${kind}`, 15 + REPORTS / 7_000, () =>
					ingest(kind, url, REPORTS, {
						env: SERVICE_ENV,
						consumers: Number(args.consumers),
						started: sys => {
							stopSampling = sampleMemory(`ingest ${kind}`, procsOf(sys));
							consumers = sys.procs.filter(p => p.services.includes("trashReport")).map(p => p.child.pid);
							cpu.before = now();
						},
						finished: () => (cpu.after = now()),
						progress: applied => (step.label = `row ${id}: ${applied}/${REPORTS} reports applied through ${kind}`)
					}).finally(() => stopSampling())
				);
				const label = `burst: ${kind === "nats" ? "NATS JetStream" : "RabbitMQ"} → ${args.consumers} × trashReport → PostgreSQL (${r.meanBatch.toFixed(0)} reports a batch)`;
				// from the deployment's start (idle, ready) to the last report applied
				const [cpuUs, consumersCpuUs] = cpu.after.map((after, i) => ((after - cpu.before[i]) / REPORTS) * 1e6);
				reportRow(id, label, r.rate, raw, { lost: r.lost, cpuUs, consumersCpuUs });
			}
			// issue #16: backlogs of seed-format reports from plain clients, 1 000 cans, drained by raw
			// consumers (5d on JetStream, 5i on RabbitMQ) and by the system, and a live burst (5h)
			const many = Number(args.consumers);
			const system = (d: Drain, bus: string) => `${bus} → ${d.consumers} × trashReport → PostgreSQL, 1 000 cans (${d.meanBatch.toFixed(0)} reports a batch)`;
			const drained = (id: string, label: string, d: Drain, baseline: Row) => reportRow(id, label, d.rate, baseline, d);
			const sampling = (deployment: string) => {
				let stop: (() => void) | null = null;
				return { started: (sys: Deployment) => (stop ??= sampleMemory(deployment, procsOf(sys))), stop: () => stop?.() };
			};
			const natsMemory = sampling("backlog nats");
			const nats = await stepOf(`rows 5d–5h: ${REPORTS}-report backlogs and a live burst on NATS`, 20 + (3 * REPORTS) / 4_000, () =>
				natsBacklog(natsUrl, REPORTS, 1_000, {
					env: SERVICE_ENV,
					consumers: many,
					started: natsMemory.started,
					progress: applied => (step.label = `rows 5e–5h: ${applied}/${REPORTS} applied`)
				}).finally(natsMemory.stop)
			);
			const rawJs = reportRow("5d", "backlog: raw nats JetStream pull consumer, acks every message", nats.raw);
			drained("5e", `backlog: ${system(nats.many, "NATS JetStream")}`, nats.many, rawJs);
			drained("5f", `backlog: ${system(nats.one, "NATS JetStream")}`, nats.one, rawJs);
			reportRow("5g", "producer alone: plain nats client, pipelined core publishes into the stream", nats.producer, rawJs);
			drained("5h", `live: row 5g's producer publishing while ${system(nats.live, "NATS JetStream")} apply`, nats.live, rawJs);
			// the ceiling of rows 5e–5h with this store: its work alone, no framework around it
			const alone = await stepOf(`row 5k: the store's work alone, ${REPORTS} reports`, 10 + REPORTS / 5_000, () => storeAloneDrain(natsUrl, REPORTS, 1_000));
			drained(
				"5k",
				`store work alone: raw JetStream pull consumer → trashReport's Batcher + applyBatch → PostgreSQL, no broker (1 process, 1 000 cans, ${alone.meanBatch.toFixed(0)} reports a batch)`,
				alone,
				rawJs
			);
			const amqpMemory = sampling("backlog amqp");
			const rabbit = await stepOf(`rows 5i, 5j: a ${REPORTS}-report backlog on RabbitMQ`, 20 + REPORTS / 3_000, () =>
				amqpBacklog(amqpUrl, REPORTS, 1_000, {
					env: SERVICE_ENV,
					consumers: many,
					started: amqpMemory.started,
					progress: applied => (step.label = `row 5j: ${applied}/${REPORTS} applied`)
				}).finally(amqpMemory.stop)
			);
			const rawAmqp = reportRow("5i", "backlog: raw amqplib consumer (prefetch 1 000), acks every message", rabbit.raw);
			drained("5j", `backlog: ${system(rabbit.many, "RabbitMQ")}`, rabbit.many, rawAmqp);
		}

		if (PHASES.has("peer")) await peerRows(natsUrl);
	} finally {
		if (ticker) clearInterval(ticker);
		if (tty) draw();
		process.stderr.write("\n");
		await Promise.all(own.map(s => s.stop()));
	}

	const mem = [...memory.values()];
	const results: Results = {
		date: new Date().toISOString(),
		command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
		machine: machine(),
		settings: { connections: CONNECTIONS, durationS: DURATION_S, reports: REPORTS },
		rows,
		startToReadyMs,
		startToReadyPgMs,
		memory: mem,
		targets: targets(rows, { startToReadyMs, startToReadyPgMs }, mem)
	};
	fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
	fs.writeFileSync(RESULTS, JSON.stringify(results, null, "\t") + "\n");
	if (DOCS) refreshDoc(DOCS, results);
	console.log(markdown(results));
	console.log(`\nresults: ${path.relative(process.cwd(), RESULTS)}${DOCS ? `; table refreshed in ${path.relative(process.cwd(), DOCS)}` : ""}`);
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
