/**
 * Real servers for integration tests: NATS (optionally JetStream / clustered), RabbitMQ and
 * PostgreSQL, each on free loopback ports with a private temp dir, as child processes of the
 * calling process. Install the binaries with `bash scripts/install-servers.sh`.
 *
 * Lifecycle of every server:
 *  - `kill()`  SIGKILLs it (a crash): the data dir stays, so `start()` resumes from it.
 *  - `stop()`  shuts it down gracefully and removes its temp dir, unless `{ keepData: true }`.
 *  - `start()` starts it again on the same port(s) and dir; after a plain `stop()` the dir is
 *              created again, empty (a fresh server on the same port).
 *
 * Nothing may outlive a crashed test run, so every server runs under `setpriv --pdeathsig KILL`
 * (the kernel SIGKILLs it when its parent dies, whatever the way) in its own process group
 * (stop/kill reach its helper processes too), and a process 'exit' handler SIGKILLs what is
 * left and removes the temp dirs. Inside a jest test file `process` is a sandbox copy whose
 * 'exit' never fires, so there only pdeathsig applies; temp dirs of dead runs are swept by the
 * next run that loads this module.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface RunningServer {
	url: string;
	port: number;
	/** Graceful shutdown; removes the temp dir unless `keepData`. */
	stop(opts?: { keepData?: boolean }): Promise<void>;
	/** SIGKILL (simulated crash); keeps the data dir. */
	kill(): Promise<void>;
	/** Starts again on the same port and data dir (a fresh dir after a plain `stop()`). */
	start(): Promise<void>;
	/** The server's private dir (data and `server.log`). */
	dir: string;
}

export type NatsServer = RunningServer & { monitorUrl: string };

export interface NatsOptions {
	jetstream?: boolean;
	/** Require these credentials from every client (`--user`/`--pass`). */
	auth?: { user: string; pass: string };
	cluster?: { name: string; port: number; routes: string[] };
	port?: number;
	serverName?: string;
}

export interface NatsCluster {
	urls: string[];
	nodes: NatsServer[];
	stop(): Promise<void>;
}

export type PostgresServer = RunningServer & {
	/** Creates database `name` and returns its url `postgres://postgres@127.0.0.1:<port>/<name>`. */
	createDatabase(name: string): Promise<string>;
};

const INSTALL_HINT = "run `bash scripts/install-servers.sh` (apt-installs nats-server, rabbitmq-server and postgresql)";
const RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const LOG_NAME = "server.log";

// ---------------------------------------------------------------------------------------------
// Process bookkeeping

/** Process groups still running and temp dirs still present, for the exit handler. */
const liveGroups = new Set<number>();
const liveDirs = new Set<string>();

process.on("exit", () => {
	for (const pgid of liveGroups) signalGroup(pgid, "SIGKILL");
	for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
	if (root) fs.rmSync(root, { recursive: true, force: true });
});

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
	if (pgid <= 0) return;
	try {
		process.kill(-pgid, signal);
	} catch {
		// already gone
	}
}

/** Per-process root of all temp dirs; roots of dead processes (crashed runs) are removed. */
const ROOT_PREFIX = "test-servers-";
let root: string | undefined;

function serverDir(kind: string): string {
	if (!root) {
		sweepStaleRoots();
		root = path.join(os.tmpdir(), `${ROOT_PREFIX}${process.pid}`);
		fs.mkdirSync(root, { recursive: true });
		// postgres runs as user postgres and must be able to reach its dir under here
		fs.chmodSync(root, 0o755);
	}
	const dir = fs.mkdtempSync(path.join(root, `${kind}-`));
	fs.chmodSync(dir, 0o755);
	return dir;
}

function sweepStaleRoots(): void {
	const tmp = os.tmpdir();
	for (const name of fs.readdirSync(tmp)) {
		const pid = name.startsWith(ROOT_PREFIX) ? Number(name.slice(ROOT_PREFIX.length)) : NaN;
		if (Number.isInteger(pid) && pid !== process.pid && !fs.existsSync(`/proc/${pid}`)) {
			fs.rmSync(path.join(tmp, name), { recursive: true, force: true });
		}
	}
}

function hasSetpriv(): boolean {
	return onPath("setpriv") !== undefined;
}

function onPath(bin: string): string | undefined {
	for (const dir of (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
		const file = path.join(dir, bin);
		try {
			fs.accessSync(file, fs.constants.X_OK);
			return file;
		} catch {
			// next
		}
	}
	return undefined;
}

function requireBinary(file: string | undefined, what: string): string {
	if (!file || !fs.existsSync(file)) throw new Error(`${what} is not installed: ${INSTALL_HINT}`);
	return file;
}

interface LaunchSpec {
	name: string;
	cmd: string;
	args: string[];
	env: NodeJS.ProcessEnv;
	logFile: string;
	cwd: string;
	user?: { uid: number; gid: number };
}

/** A child process in its own group whose exit is awaitable. */
interface Proc {
	child: ChildProcess;
	pgid: number;
	exited: Promise<number | string>;
	hasExited(): boolean;
	/** What it has logged so far (this launch only: the log is appended to across restarts). */
	logged(): string;
}

function launch(spec: LaunchSpec): Proc {
	const log = fs.openSync(spec.logFile, "a");
	const logStart = fs.fstatSync(log).size;
	fs.writeSync(log, `\n--- ${new Date().toISOString()} ${spec.cmd} ${spec.args.join(" ")}\n`);
	const [cmd, args] = hasSetpriv() ? ["setpriv", ["--pdeathsig", "KILL", "--", spec.cmd, ...spec.args]] : [spec.cmd, spec.args];
	let child: ChildProcess;
	try {
		child = spawn(cmd, args, {
			cwd: spec.cwd,
			env: spec.env,
			stdio: ["ignore", log, log],
			detached: true, // own process group, see signalGroup
			uid: spec.user?.uid,
			gid: spec.user?.gid
		});
	} finally {
		fs.closeSync(log);
	}
	const pgid = child.pid ?? -1;
	if (pgid > 0) liveGroups.add(pgid);
	let done = false;
	const exited = new Promise<number | string>(resolve => {
		child.once("exit", (code, signal) => {
			done = true;
			// helpers (Erlang's inet_gethost, postgres backends) may linger a moment
			signalGroup(pgid, "SIGKILL");
			liveGroups.delete(pgid);
			resolve(code ?? signal ?? "unknown");
		});
		// spawn failure (ENOENT, EACCES): emitted instead of 'exit'
		child.once("error", err => {
			done = true;
			liveGroups.delete(pgid);
			resolve(err.message);
		});
	});
	// A server left running must not keep the test process alive (pdeathsig / exit handler kill it);
	// code that awaits its exit takes a ref meanwhile (terminate, initdb).
	child.unref();
	const logged = () => {
		const fd = fs.openSync(spec.logFile, "r");
		try {
			const buf = Buffer.alloc(Math.max(0, fs.fstatSync(fd).size - logStart));
			fs.readSync(fd, buf, 0, buf.length, logStart);
			return buf.toString("utf8");
		} finally {
			fs.closeSync(fd);
		}
	};
	return { child, pgid, exited, hasExited: () => done, logged };
}

/** Sends `signal` to the group leader, waits up to `graceMs` for it to exit, then SIGKILLs the group. */
async function terminate(proc: Proc, signal: NodeJS.Signals, graceMs: number): Promise<void> {
	if (proc.hasExited()) return;
	proc.child.ref(); // keep the event loop alive until the exit is seen
	try {
		if (signal === "SIGKILL") signalGroup(proc.pgid, "SIGKILL");
		else proc.child.kill(signal);
		const timer = setTimeout(() => signalGroup(proc.pgid, "SIGKILL"), graceMs);
		try {
			await proc.exited;
		} finally {
			clearTimeout(timer);
		}
	} finally {
		proc.child.unref();
	}
}

function tail(file: string, lines = 30): string {
	try {
		return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
	} catch {
		return "(no log)";
	}
}

/**
 * Polls until `procs[0]` has logged `marker` and `probe` resolves true. The marker makes sure
 * the probe reached our server and not another one that grabbed the port first (freePort race).
 * Fails early when a process exits, or after `timeoutMs` (then the processes are killed); the
 * error carries the tail of the log.
 */
async function waitReady(name: string, procs: Proc[], logFile: string, marker: string | null, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
	const started = Date.now();
	for (;;) {
		const dead = procs.find(p => p.hasExited());
		if (dead) {
			throw new Error(`${name} exited during startup (${await dead.exited}); last lines of ${logFile}:\n${tail(logFile)}`);
		}
		if ((marker === null || procs[0].logged().includes(marker)) && (await probe().catch(() => false))) return;
		if (Date.now() - started > timeoutMs) {
			await Promise.all(procs.map(p => terminate(p, "SIGKILL", 0)));
			throw new Error(`${name} not ready after ${timeoutMs} ms; last lines of ${logFile}:\n${tail(logFile)}`);
		}
		await delay(100);
	}
}

function delay(ms: number): Promise<void> {
	return new Promise(resolve => setTimeout(resolve, ms));
}

/** Resolves true when a TCP connection to 127.0.0.1:port opens. */
function canConnect(port: number, timeoutMs = 1_000): Promise<boolean> {
	return new Promise(resolve => {
		const socket = net.connect({ host: "127.0.0.1", port });
		const finish = (ok: boolean) => {
			socket.destroy();
			resolve(ok);
		};
		socket.setTimeout(timeoutMs, () => finish(false));
		socket.once("connect", () => finish(true));
		socket.once("error", () => finish(false));
	});
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<{ ok: boolean; output: string }> {
	return new Promise(resolve => {
		execFile(cmd, args, { env, timeout: timeoutMs }, (err, stdout, stderr) => {
			resolve({ ok: !err, output: `${stdout}${stderr}`.trim() || (err ? err.message : "") });
		});
	});
}

/** A port that was free a moment ago (the OS picks it; the usual small race applies). */
/** The first port the kernel hands out to outgoing connections (Linux: ip_local_port_range). */
function ephemeralLow(): number {
	try {
		return Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 32768;
	} catch {
		return 32768;
	}
}

function canListen(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const server = net.createServer();
		server.unref();
		server.once("error", () => resolve(false));
		server.listen({ host: "0.0.0.0", port, exclusive: true }, () => server.close(() => resolve(true)));
	});
}

const handedOut = new Set<number>();

/**
 * A port nothing listens on, for a server a test is about to start. Taken below the ephemeral
 * range: a port the kernel picks there (`listen(0)`) can be taken by any outgoing connection (to
 * NATS, RabbitMQ, PostgreSQL…) before the server that was given it listens, which failed a
 * deployment with EADDRINUSE. Never the same port twice in one test file.
 */
export async function freePort(): Promise<number> {
	const low = 10_000;
	const high = ephemeralLow();
	for (let attempt = 0; attempt < 500 && high > low + 1_000; attempt++) {
		const port = low + Math.floor(Math.random() * (high - low));
		if (handedOut.has(port) || !(await canListen(port))) continue;
		handedOut.add(port);
		return port;
	}
	throw new Error(`No free port found between ${low} and ${high}`);
}

/**
 * Generic server lifecycle around `boot` (spawns the processes for a given dir and waits until
 * ready). `prepare` initialises a fresh dir (runs at first start and after a plain stop()).
 */
function lifecycle(
	kind: string,
	stopSignal: NodeJS.Signals,
	stopGraceMs: number,
	prepare: (dir: string) => Promise<void>,
	boot: (dir: string, logFile: string) => Promise<Proc[]>
): { dir(): string; start(): Promise<void>; stop(opts?: { keepData?: boolean }): Promise<void>; kill(): Promise<void> } {
	let dir = "";
	let fresh = true;
	let procs: Proc[] = [];
	const stopAll = (signal: NodeJS.Signals, graceMs: number) =>
		// one by one, in the order boot() listed them: the server first, then helpers it needs (epmd)
		procs
			.reduce<Promise<void>>((prev, p) => prev.then(() => terminate(p, signal, graceMs)), Promise.resolve())
			.then(() => {
				procs = [];
			});
	return {
		dir: () => dir,
		async start() {
			if (procs.some(p => !p.hasExited())) throw new Error(`${kind} is already running`);
			if (fresh) {
				dir = dir || serverDir(kind);
				fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
				liveDirs.add(dir);
				await prepare(dir);
				fresh = false;
			}
			procs = await boot(dir, path.join(dir, LOG_NAME));
		},
		async stop(opts = {}) {
			await stopAll(stopSignal, stopGraceMs);
			if (!opts.keepData && dir) {
				fs.rmSync(dir, { recursive: true, force: true });
				liveDirs.delete(dir);
				fresh = true;
			}
		},
		async kill() {
			await stopAll("SIGKILL", 0);
		}
	};
}

/** First start; on failure the temp dir goes too (the error carries the log's tail). */
/** Starts `life` (cleaning up if that fails) and hands it out as a RunningServer at `url`. */
async function startServer(life: ReturnType<typeof lifecycle>, url: string, port: number): Promise<RunningServer> {
	try {
		await life.start();
	} catch (err) {
		await life.stop().catch(() => {});
		throw err;
	}
	return {
		url,
		port,
		get dir() {
			return life.dir();
		},
		start: life.start,
		stop: life.stop,
		kill: life.kill
	};
}

// ---------------------------------------------------------------------------------------------
// NATS

export async function startNats(opts: NatsOptions = {}): Promise<NatsServer> {
	const bin = requireBinary(onPath("nats-server"), "nats-server");
	const port = opts.port ?? (await freePort());
	const monitorPort = await freePort();
	const serverName = opts.serverName ?? `nats-test-${port}`;
	const life = lifecycle(
		"nats",
		"SIGTERM",
		5_000,
		async () => {},
		async (dir, logFile) => {
			const args = ["-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "--server_name", serverName];
			if (opts.jetstream) args.push("-js", "-sd", path.join(dir, "jetstream"));
			if (opts.auth) args.push("--user", opts.auth.user, "--pass", opts.auth.pass);
			if (opts.cluster) {
				args.push("--cluster", `nats://127.0.0.1:${opts.cluster.port}`, "--cluster_name", opts.cluster.name);
				if (opts.cluster.routes.length) args.push("--routes", opts.cluster.routes.join(","));
			}
			const proc = launch({ name: "nats-server", cmd: bin, args, env: { PATH: process.env.PATH }, logFile, cwd: dir });
			// /healthz also waits for JetStream to be current (in a cluster: a meta leader elected)
			await waitReady(`nats-server on port ${port}`, [proc], logFile, "Server is ready", () => httpOk(`http://127.0.0.1:${monitorPort}/healthz`), 20_000);
			return [proc];
		}
	);
	// Object.assign, not a spread: `dir` stays a getter (a plain stop() and start() make a new dir)
	return Object.assign(await startServer(life, `nats://127.0.0.1:${port}`, port), { monitorUrl: `http://127.0.0.1:${monitorPort}` });
}

async function httpOk(url: string): Promise<boolean> {
	const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
	await res.arrayBuffer();
	return res.ok;
}

/**
 * A NATS cluster of `size` nodes (routes between all of them), all started in parallel.
 * JetStream is off by default: its meta group needs a majority, so in a 2-node cluster it
 * stops working as soon as one node is down, which defeats most failover tests.
 */
export async function startNatsCluster(size = 2, opts: { jetstream?: boolean; name?: string } = {}): Promise<NatsCluster> {
	const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
	const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
	const name = opts.name ?? `test-${clusterPorts[0]}`;
	const results = await Promise.allSettled(
		ports.map((port, i) =>
			startNats({
				port,
				jetstream: opts.jetstream ?? false,
				serverName: `${name}-n${i}`,
				cluster: { name, port: clusterPorts[i], routes: clusterPorts.filter((_, j) => j !== i).map(p => `nats://127.0.0.1:${p}`) }
			})
		)
	);
	const nodes = results.flatMap(r => (r.status === "fulfilled" ? [r.value] : []));
	const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
	if (failed) {
		await Promise.all(nodes.map(n => n.stop()));
		throw failed.reason;
	}
	return {
		urls: nodes.map(n => n.url),
		nodes,
		stop: async () => {
			await Promise.all(nodes.map(n => n.stop()));
		}
	};
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ

/**
 * A RabbitMQ node run straight from its start script (not the Debian wrapper that switches to
 * user rabbitmq). Everything Erlang and RabbitMQ would read or write globally is private: HOME
 * (Erlang cookie), mnesia dir, config, plugins, node name, and its own epmd on a free port (the
 * one Erlang would start by itself daemonizes and outlives the broker).
 * Default user guest/guest, allowed from loopback only.
 */
export async function startRabbit(): Promise<RunningServer> {
	requireBinary(RABBIT_SERVER, "rabbitmq-server");
	const epmdBin = requireBinary(onPath("epmd") ?? "/usr/bin/epmd", "epmd (Erlang)");
	const [port, distPort, epmdPort] = await Promise.all([freePort(), freePort(), freePort()]);
	const url = `amqp://guest:guest@127.0.0.1:${port}`;
	const nodeName = `rabbit-test-${port}@localhost`;
	const life = lifecycle(
		"rabbit",
		"SIGTERM",
		15_000,
		async dir => {
			for (const sub of ["home", "mnesia", "log"]) fs.mkdirSync(path.join(dir, sub), { recursive: true });
			fs.writeFileSync(
				path.join(dir, "rabbitmq.conf"),
				[
					`listeners.tcp.1 = 127.0.0.1:${port}`,
					// a nearly full CI disk must not block publishers
					"disk_free_limit.absolute = 10MB",
					"log.console = true",
					"log.file = false"
				].join("\n") + "\n"
			);
			fs.writeFileSync(path.join(dir, "enabled_plugins"), "[].\n");
			fs.writeFileSync(path.join(dir, "rabbitmq-env.conf"), "");
		},
		async (dir, logFile) => {
			const env: NodeJS.ProcessEnv = {
				PATH: process.env.PATH,
				LANG: "C.UTF-8",
				LC_ALL: "C.UTF-8",
				HOME: path.join(dir, "home"),
				ERL_EPMD_PORT: String(epmdPort),
				ERL_EPMD_ADDRESS: "127.0.0.1",
				RABBITMQ_NODENAME: nodeName,
				RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
				RABBITMQ_NODE_PORT: String(port),
				RABBITMQ_DIST_PORT: String(distPort),
				RABBITMQ_MNESIA_BASE: path.join(dir, "mnesia"),
				RABBITMQ_LOG_BASE: path.join(dir, "log"),
				RABBITMQ_LOGS: "-",
				RABBITMQ_CONFIG_FILE: path.join(dir, "rabbitmq.conf"),
				RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, "advanced.config"),
				RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, "enabled_plugins"),
				RABBITMQ_CONF_ENV_FILE: path.join(dir, "rabbitmq-env.conf"),
				// makes the start script exec the Erlang VM instead of forking it from a signal-relaying
				// shell: the VM itself then gets pdeathsig and our SIGTERM (a graceful shutdown)
				RUNNING_UNDER_SYSTEMD: "true",
				// Erlang distribution (needed by rabbitmqctl only) listens on loopback only
				RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}"
			};
			const epmd = launch({ name: "epmd", cmd: epmdBin, args: ["-port", String(epmdPort), "-address", "127.0.0.1"], env, logFile, cwd: dir });
			try {
				await waitReady(`epmd on port ${epmdPort}`, [epmd], logFile, null, () => canConnect(epmdPort), 10_000);
			} catch (err) {
				await terminate(epmd, "SIGKILL", 0);
				throw err;
			}
			const rabbit = launch({ name: "rabbitmq-server", cmd: RABBIT_SERVER, args: [], env, logFile, cwd: dir });
			try {
				await waitReady(`rabbitmq-server on port ${port}`, [rabbit, epmd], logFile, `started TCP listener on 127.0.0.1:${port}`, () => amqpOk(url), 60_000);
			} catch (err) {
				await Promise.all([terminate(rabbit, "SIGKILL", 0), terminate(epmd, "SIGKILL", 0)]);
				throw err;
			}
			return [rabbit, epmd];
		}
	);
	return startServer(life, url, port);
}

/** Ready means an AMQP handshake succeeds (the TCP listener opens a little earlier). */
async function amqpOk(url: string): Promise<boolean> {
	if (!(await canConnect(Number(new URL(url).port)))) return false;
	const amqp = await import("amqplib");
	const conn = await amqp.connect(url, { timeout: 2_000 });
	// a connection refused late must not surface as an unhandled 'error'
	conn.on("error", () => {});
	await conn.close();
	return true;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

function postgresBinDir(): string {
	const base = "/usr/lib/postgresql";
	const versions = fs.existsSync(base)
		? fs
				.readdirSync(base)
				.filter(v => fs.existsSync(path.join(base, v, "bin", "postgres")))
				.sort((a, b) => Number(b) - Number(a))
		: [];
	if (!versions.length) throw new Error(`PostgreSQL is not installed (no ${base}/*/bin/postgres): ${INSTALL_HINT}`);
	return path.join(base, versions[0], "bin");
}

function postgresUser(): { uid: number; gid: number } {
	// postgres refuses to run as root; as another user we run it as ourselves
	if (process.getuid?.() !== 0) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
	const line = fs
		.readFileSync("/etc/passwd", "utf8")
		.split("\n")
		.find(l => l.startsWith("postgres:"));
	if (!line) throw new Error(`no system user "postgres" (created by the postgresql package): ${INSTALL_HINT}`);
	const [, , uid, gid] = line.split(":");
	return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A PostgreSQL cluster in a temp dir (initdb, trust auth, superuser `postgres`), listening on
 * 127.0.0.1 and a private socket dir; durability is off (fsync etc.) for speed.
 */
export async function startPostgres(): Promise<PostgresServer> {
	const bin = postgresBinDir();
	const user = postgresUser();
	const port = await freePort();
	const base = `postgres://postgres@127.0.0.1:${port}`;
	const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: "C", LC_ALL: "C" };
	const life = lifecycle(
		"postgres",
		"SIGINT", // "fast" shutdown; SIGTERM ("smart") would wait for clients to disconnect
		15_000,
		async dir => {
			const data = path.join(dir, "data");
			const socket = path.join(dir, "socket");
			for (const d of [data, socket]) {
				fs.mkdirSync(d, { mode: 0o700 });
				fs.chownSync(d, user.uid, user.gid);
			}
			const logFile = path.join(dir, LOG_NAME);
			const proc = launch({
				name: "initdb",
				cmd: path.join(bin, "initdb"),
				args: ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"],
				env,
				logFile,
				cwd: dir,
				user
			});
			proc.child.ref();
			const result = await proc.exited;
			if (result !== 0) throw new Error(`initdb failed (${result}); last lines of ${logFile}:\n${tail(logFile)}`);
		},
		async (dir, logFile) => {
			const args = ["-D", path.join(dir, "data"), "-p", String(port), "-k", path.join(dir, "socket"), "-h", "127.0.0.1"];
			for (const setting of ["fsync=off", "full_page_writes=off", "synchronous_commit=off"]) args.push("-c", setting);
			const proc = launch({ name: "postgres", cmd: path.join(bin, "postgres"), args, env, logFile, cwd: dir, user });
			const probe = async () =>
				(await canConnect(port)) && (await run(path.join(bin, "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres"], env)).ok;
			await waitReady(`postgres on port ${port}`, [proc], logFile, "database system is ready to accept connections", probe, 30_000);
			return [proc];
		}
	);
	return Object.assign(await startServer(life, base, port), {
		async createDatabase(name: string) {
			const quoted = `"${name.replace(/"/g, '""')}"`;
			const result = await run(
				path.join(bin, "psql"),
				["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", `CREATE DATABASE ${quoted}`],
				env
			);
			if (!result.ok) throw new Error(`CREATE DATABASE ${quoted} failed: ${result.output}`);
			return `${base}/${encodeURIComponent(name)}`;
		}
	});
}
