/**
 * Ingest throughput (row 5 of `npm run bench`): a burst of simulated reports applied through the
 * durable `trash-level` channel by three trashReport processes on PostgreSQL, on NATS JetStream and
 * on RabbitMQ, against a raw `nats` publish/subscribe baseline measured in the same run.
 * Loopback only, bounded. Run alone (three rows, a markdown table) with:
 *
 *   npm run bench:ingest              (BENCH_REPORTS=20000 by default)
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { AckPolicy, connect, DeliverPolicy, StringCodec } from "nats";
import amqp from "amqplib";
import { Client } from "pg";
import type { ServiceSchema } from "moleculer";
import Simulator from "../services/simulator.service";
import { freshDatabase, START_FLAGS, startDeployment } from "../harness/deployment";
import type { Deployment, DeploymentKind } from "../harness/deployment";
import { startNats, startPostgres, startRabbit } from "../harness/servers";
import { ingestStats } from "../lib/ingest/stats";
import type { IngestStats } from "../lib/contracts";
import { CHANNEL } from "../lib/ingest/report";
import { processCpuSeconds, systemCpuSeconds } from "./cpu";
import type { StoreAloneJob, StoreAloneResult } from "./store-alone";

export interface IngestResult {
	rate: number;
	lost: number;
	/** Reports per batch written to the store, on average over the consumers (`trashReport.stats`). */
	meanBatch: number;
	/** Reports/s of the producer alone: the burst call's own time (the consumers run meanwhile). */
	publishRate: number;
}

/** Reports/s of a plain nats publish → subscribe + JSON.parse of the seed format: what the bus alone costs. */
export async function rawNats(url: string, n: number): Promise<number> {
	const nc = await connect({ servers: url });
	const sc = StringCodec();
	let received = 0;
	const done = new Promise<void>(resolve => {
		nc.subscribe("bench-raw", {
			callback: (_err, msg) => {
				JSON.parse(sc.decode(msg.data));
				if (++received === n) resolve();
			}
		});
	});
	await nc.flush();
	const started = performance.now();
	for (let i = 0; i < n; i++) {
		nc.publish("bench-raw", sc.encode(JSON.stringify({ can_id: String(301 + (i % 10)), level: (i % 100).toFixed(2) })));
		if (i % 1_000 === 0) await nc.flush();
	}
	await done;
	const rate = n / ((performance.now() - started) / 1000);
	await nc.close();
	return rate;
}

export interface IngestOptions {
	/** Called with the count applied so far, about every 250 ms. */
	progress?: (applied: number) => void;
	/** Called once the deployment runs, with its processes (the suite samples their memory). */
	started?: (sys: Deployment) => void;
	/** Called when the burst is applied (or timed out), before the deployment stops. */
	finished?: () => void;
	timeoutMs?: number;
	env?: Record<string, string>;
	/** trashReport processes sharing the burst (3 by default, as the ingest tests run). */
	consumers?: number;
}

/** Reports the store holds as applied. */
const appliedCount = async (pg: Client) => Number((await pg.query(`SELECT count(*) FROM reports WHERE status = 'applied'`)).rows[0].count);

/**
 * Polls until `target` reports are applied, then returns the store's count (or the timeout's).
 * Once `timing()`, progress comes from the consumers' counters (`trashReport.stats`: a report
 * counts once its batch is written), `counted` of which were applied before, and the store is
 * counted only when they say the target is reached: counting the reports table every 50 ms cost
 * PostgreSQL a scan each time, a share of the CPU per report that was the bench's, not the system's.
 * Before (waiting for a drain's first report), the store is counted: a consumer's counters are
 * seen only once the broker knows the process, after it has begun.
 */
async function appliedBy(
	sys: Deployment,
	pg: Client,
	{ counted, from, target, deadline }: { counted: number; from: number; target: number; deadline: number },
	poll: (count: number) => void,
	timing = () => true
) {
	for (;;) {
		let count = from + (await ingestStats(sys.broker).catch(() => ({ applied: counted }))).applied - counted;
		if (!timing() || count >= target || Date.now() >= deadline) {
			count = await appliedCount(pg);
			if (count >= target || Date.now() >= deadline) return count;
		}
		poll(count);
		await new Promise(r => setTimeout(r, 50));
	}
}

/**
 * `n` reports published by a simulator on the bench's own node, timed from the burst call until
 * PostgreSQL holds `n` applied statuses (or `timeoutMs` passes: the rest counts as lost).
 */
export async function ingest(kind: DeploymentKind, transporter: string, n: number, opts: IngestOptions = {}): Promise<IngestResult> {
	const sys = await startDeployment(kind, {
		transporter,
		env: opts.env,
		layout: [
			["gateway", ["rest", "systemManager", "pilot", "db"]],
			...Array.from({ length: opts.consumers ?? 3 }, (_, i): [string, ["trashReport"]] => [`trashReport-${i + 1}`, ["trashReport"]])
		]
	});
	opts.started?.(sys);
	const pg = new Client({ connectionString: sys.env.DB_URI });
	await pg.connect();
	try {
		await sys.broker.createService({ name: "simulator", mixins: [Simulator], settings: { cans: 10, autostart: false } } as ServiceSchema);
		await sys.broker.waitForServices("simulator");
		const started = performance.now();
		await sys.broker.call("simulator.burst", { count: n }, { timeout: 0 });
		const publishRate = n / ((performance.now() - started) / 1000);
		const count = await appliedBy(sys, pg, { counted: 0, from: 0, target: n, deadline: Date.now() + (opts.timeoutMs ?? 300_000) }, count =>
			opts.progress?.(count)
		);
		if (count < n) for (const p of sys.procs) process.stderr.write(`\n--- ${p.name} (last output) ---\n${p.output.slice(-1_500)}\n`);
		const rate = count / ((performance.now() - started) / 1000);
		opts.finished?.();
		const { batches, batched } = await ingestStats(sys.broker);
		return { rate, lost: n - count, meanBatch: batched / batches, publishRate };
	} finally {
		await pg.end();
		await sys.stop();
	}
}

/** The JetStream stream of a channel (the channel adapter names it after the channel, which is also its subject). */
const streamOf = (channel: string) => channel.split(".").join("_");

/** Report `i` of a plain producer in the seed format, `cans` cans taking turns, each filling and emptied every 200 reports. */
const seedReport = (i: number, cans: number) => JSON.stringify({ can_id: String(1 + (i % cans)), level: ((Math.floor(i / cans) % 200) / 2 + 0.25).toFixed(2) });

/**
 * Fills the `trash-level` stream (created as the channel adapter creates it) with `n` seed-format
 * reports, core-published by a plain `nats` client: the backlog a fleet leaves while every
 * consumer is down.
 */
export async function fillBacklog(url: string, channel: string, n: number, cans: number, retentionMs = 3_600_000, first = 0): Promise<void> {
	const nc = await connect({ servers: url });
	const stream = streamOf(channel);
	try {
		const jsm = await nc.jetstreamManager();
		await jsm.streams.add({ name: stream, subjects: [channel], max_age: retentionMs * 1_000_000, num_replicas: 1 });
		const stored = (await jsm.streams.info(stream)).state.messages;
		const sc = StringCodec();
		for (let i = first; i < first + n; i++) {
			nc.publish(channel, sc.encode(seedReport(i, cans)));
			if (i % 1_000 === 999) await nc.flush();
		}
		await nc.flush();
		while ((await jsm.streams.info(stream)).state.messages < stored + n) await new Promise(r => setTimeout(r, 50));
	} finally {
		await nc.close();
	}
}

/**
 * Reports/s of a raw durable pull consumer of the `nats` client that drains the backlog (`n`
 * reports), parsing each and acking every message: issue #16's baseline for the same bus.
 */
export async function rawJetStreamDrain(url: string, channel: string, n: number): Promise<number> {
	const nc = await connect({ servers: url });
	const stream = streamOf(channel);
	try {
		const jsm = await nc.jetstreamManager();
		const durable = `bench-raw-${Date.now()}`;
		await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
		const consumer = await nc.jetstream().consumers.get(stream, durable);
		const started = performance.now();
		let count = 0;
		const messages = await consumer.consume({ max_messages: 1_000 });
		for await (const m of messages) {
			JSON.parse(m.string());
			m.ack();
			if (++count === n) break;
		}
		await nc.flush();
		const rate = n / ((performance.now() - started) / 1000);
		await jsm.consumers.delete(stream, durable);
		return rate;
	} finally {
		await nc.close();
	}
}

/**
 * Row 5k: what the ingest's store work alone sustains, the ceiling of rows 5e–5h with this store.
 * `n` reports of `cans` cans drained by bench/store-alone.ts, a raw JetStream pull consumer feeding
 * trashReport's `Batcher` and `applyBatch` on a fresh PostgreSQL database, in a process of its own
 * with the services' Node flags. `n` reports are applied first (untimed) so that every can's window
 * is full, as it is for rows 5e–5h. Its CPU is the consumer process's; the machine's is everything
 * this process started (NATS, PostgreSQL, the consumer). The consumer is killed after `timeoutMs`.
 */
export async function storeAloneDrain(natsUrl: string, n: number, cans: number, timeoutMs = 60_000 + n): Promise<Drain> {
	const stream = `store-alone-${Date.now()}`;
	await fillBacklog(natsUrl, stream, 2 * n, cans);
	try {
		return await storeAlone(natsUrl, stream, n, timeoutMs);
	} finally {
		const nc = await connect({ servers: natsUrl });
		await (await nc.jetstreamManager()).streams.delete(stream).finally(() => nc.close());
	}
}

async function storeAlone(natsUrl: string, stream: string, n: number, timeoutMs: number): Promise<Drain> {
	const job: StoreAloneJob = { natsUrl, stream, dbUri: await freshDatabase("store_alone"), warm: n, n };
	const root = path.resolve(__dirname, "..");
	const spawned = { at: performance.now(), cpu: systemCpuSeconds() };
	const child = spawn(process.execPath, [...START_FLAGS, "--import", "tsx", "bench/store-alone.ts"], {
		cwd: root,
		env: { ...process.env, NODE_OPTIONS: "", STORE_ALONE: JSON.stringify(job) },
		stdio: ["ignore", "pipe", "pipe"]
	});
	let errors = "";
	child.stderr.on("data", chunk => (errors += chunk));
	const exited = new Promise(resolve => child.on("exit", resolve));
	const deadline = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
	let first = null as { at: number; cpu: number } | null;
	let result: StoreAloneResult & { at: number; cpu: number };
	try {
		result = await new Promise((resolve, reject) => {
			let out = "";
			child.stdout.on("data", chunk => {
				out += chunk;
				if (!first && out.includes("timing\n")) first = { at: performance.now(), cpu: systemCpuSeconds() };
				const done = /done (\{.*\})\n/.exec(out);
				if (done) resolve({ ...(JSON.parse(done[1]) as StoreAloneResult), at: performance.now(), cpu: systemCpuSeconds() });
			});
			child.on("exit", (code, signal) => reject(new Error(`bench/store-alone.ts exited (${code ?? signal}) before it was done: ${errors.slice(-2_000)}`)));
		});
		await exited;
	} finally {
		clearTimeout(deadline);
	}
	// Too little between the two marks to time (`--smoke`: both halves in one batch, CPU counted in
	// 10 ms ticks): timed from the spawn, start-up and warm-up included, as `drain` does.
	const timed = first != null && result.cpu - first.cpu >= 0.2;
	const [from, count] = timed ? [first!, n] : [spawned, 2 * n];
	return {
		consumers: 1,
		rate: count / ((result.at - from.at) / 1000),
		lost: 0,
		meanBatch: result.meanBatch,
		cpuUs: ((result.cpu - from.cpu) / count) * 1e6,
		consumersCpuUs: timed ? result.processCpuUs : result.totalCpuUs
	};
}

/** The system applying reports: a backlog drained, or a live burst. */
export interface Drain {
	/** trashReport processes applying them. */
	consumers: number;
	rate: number;
	lost: number;
	/** Reports per batch written to the store, on average (`trashReport.stats`). */
	meanBatch: number;
	/** CPU µs per report applied: of every process the bench started (services, bus, PostgreSQL, the bench) … */
	cpuUs: number;
	/** … and of the trashReport processes alone. */
	consumersCpuUs: number;
}

/** Where a drain's timing starts: when, what was applied by then, the CPU used by then. */
interface Mark {
	at: number;
	count: number;
	cpu: number;
	consumersCpu: number;
}

const running = (sys: Deployment) => sys.procs.filter(p => p.services.includes("trashReport") && p.child.exitCode == null && p.child.signalCode == null);
const mark = (sys: Deployment, count: number): Mark => ({
	at: performance.now(),
	count,
	cpu: systemCpuSeconds(),
	consumersCpu: processCpuSeconds(...running(sys).map(p => p.child.pid))
});

/**
 * Waits until the store holds `target` applied reports (or the timeout passes: the rest counts as
 * lost). Timed from `start`, or else from the first report applied after `from` (the consumers'
 * start-up excluded), or when that leaves too little to time, from `spawned`.
 */
async function drain(
	sys: Deployment,
	pg: Client,
	from: number,
	target: number,
	opts: IngestOptions,
	start?: { mark: Mark; stats: IngestStats },
	spawned?: Mark
): Promise<Drain> {
	// consumers started for this drain count from 0; those of a live burst count on
	const stats = start?.stats ?? { applied: 0, batches: 0, batched: 0 };
	let first = start?.mark;
	const count = await appliedBy(
		sys,
		pg,
		{ counted: stats.applied, from, target, deadline: Date.now() + (opts.timeoutMs ?? 300_000) },
		count => {
			if (!first && count > from) first = mark(sys, count);
			opts.progress?.(count - from);
		},
		() => first != null
	);
	// (applied before the first look: timed from now, which makes it slower, never faster)
	first ??= mark(sys, from);
	const end = mark(sys, count);
	// Too little left after the first look to time (a backlog of a few batches, `--smoke`, mostly
	// applied while the consumers started; CPU is counted in 10 ms ticks): timed from before they
	// were started, their start-up included.
	if (!start && spawned && end.cpu - first.cpu < 0.2) first = spawned;
	const applied = Math.max(count - first.count, 1);
	const after = await ingestStats(sys.broker);
	return {
		consumers: running(sys).length,
		rate: applied / ((end.at - first.at) / 1000),
		lost: target - count,
		meanBatch: (after.batched - stats.batched) / Math.max(after.batches - stats.batches, 1),
		cpuUs: ((end.cpu - first.cpu) / applied) * 1e6,
		consumersCpuUs: ((end.consumersCpu - first.consumersCpu) / applied) * 1e6
	};
}

/** `trashReport-1` … `trashReport-<count>`. */
const consumerNames = (count: number) => Array.from({ length: count }, (_, i) => `trashReport-${i + 1}`);

/** A deployment for the backlog rows: a gateway process and `consumers` trashReport processes, and a client of its store. */
async function backlogDeployment(kind: DeploymentKind, url: string, consumers: number, opts: IngestOptions) {
	const sys = await startDeployment(kind, {
		transporter: url,
		env: opts.env,
		layout: [
			["gateway", ["rest", "systemManager", "pilot", "db"]],
			...consumerNames(consumers).map((name): [string, ["trashReport"]] => [name, ["trashReport"]])
		]
	});
	const pg = new Client({ connectionString: sys.env.DB_URI });
	await pg.connect();
	const channel = sys.env.NAMESPACE ? `${sys.env.NAMESPACE}.${CHANNEL}` : CHANNEL;
	const stopConsumers = async () => {
		for (const proc of running(sys)) await sys.kill(proc, "SIGTERM");
	};
	/** Starts them; resolves with the mark from before (see `drain`). */
	const startConsumers = async (count: number, from: number) => {
		const before = mark(sys, from);
		for (const name of consumerNames(count)) await sys.spawn(name, ["trashReport"]);
		opts.started?.(sys);
		return before;
	};
	return { sys, pg, channel, stopConsumers, startConsumers, stop: () => pg.end().finally(() => sys.stop()) };
}

export interface NatsBacklogResult {
	/** Reports/s of the pipelined plain producer alone, filling the backlog while no consumer runs. */
	producer: number;
	/** Reports/s of the raw consumer of the bus draining that backlog. */
	raw: number;
	/** The system draining a backlog with `consumers` processes, … */
	many: Drain;
	/** … a live burst from the same producer while they run, … */
	live: Drain;
	/** … and a backlog with one process. */
	one: Drain;
}

/**
 * Issue #16's NATS measures, on one deployment: `n` seed-format reports of `cans` cans put in the
 * stream by a pipelined plain `nats` producer while every trashReport process is stopped (the
 * producer's rate alone), drained first by the raw consumer (`rawJetStreamDrain`), then by
 * `consumers` processes started again; then `n` more published while they run (live, timed from
 * the first publish); then a backlog of `n` more drained by one process.
 */
export async function natsBacklog(url: string, n: number, cans: number, opts: IngestOptions = {}): Promise<NatsBacklogResult> {
	const many = opts.consumers ?? 3;
	const d = await backlogDeployment("nats", url, many, opts);
	try {
		// the group's durable consumer exists; every consumer process stops before the backlog comes
		await d.stopConsumers();
		const fillStarted = performance.now();
		await fillBacklog(url, d.channel, n, cans);
		const producer = n / ((performance.now() - fillStarted) / 1000);
		const raw = await rawJetStreamDrain(url, d.channel, n);

		const spawned = await d.startConsumers(many, 0);
		const manyDrain = await drain(d.sys, d.pg, 0, n, opts, undefined, spawned);

		const start = { mark: mark(d.sys, n), stats: await ingestStats(d.sys.broker) };
		const published = fillBacklog(url, d.channel, n, cans, undefined, n);
		const live = await drain(d.sys, d.pg, n, 2 * n, opts, start);
		await published;

		await d.stopConsumers();
		await fillBacklog(url, d.channel, n, cans, undefined, 2 * n);
		const spawnedOne = await d.startConsumers(1, 2 * n);
		const one = await drain(d.sys, d.pg, 2 * n, 3 * n, opts, undefined, spawnedOne);
		opts.finished?.();
		return { producer, raw, many: manyDrain, live, one };
	} finally {
		await d.stop();
	}
}

/**
 * Reports/s of a raw amqplib consumer draining `n` persistent messages from `queue` with a prefetch
 * of 1 000, parsing each and acking every message: the AMQP baseline.
 */
export async function rawAmqpDrain(url: string, queue: string, n: number): Promise<number> {
	const conn = await amqp.connect(url, { noDelay: true });
	try {
		const ch = await conn.createChannel();
		await ch.prefetch(1_000);
		const started = performance.now();
		let count = 0;
		await new Promise<void>(resolve =>
			ch.consume(queue, msg => {
				if (!msg) return;
				JSON.parse(msg.content.toString());
				ch.ack(msg);
				if (++count === n) resolve();
			})
		);
		const rate = n / ((performance.now() - started) / 1000);
		await ch.close();
		return rate;
	} finally {
		await conn.close();
	}
}

/** The same measures on RabbitMQ: the producer (persistent messages, confirmed), the raw amqplib consumer, `consumers` processes. */
export type AmqpBacklogResult = Pick<NatsBacklogResult, "producer" | "raw" | "many">;

/**
 * The AMQP backlog: `n` persistent seed-format reports published by a plain amqplib producer to the
 * channel's (fanout) exchange while every trashReport process is stopped. A second durable queue
 * bound to it gets its own copy, which a raw amqplib consumer drains first; then the system drains
 * the group's queue with `consumers` processes.
 */
export async function amqpBacklog(url: string, n: number, cans: number, opts: IngestOptions = {}): Promise<AmqpBacklogResult> {
	const many = opts.consumers ?? 3;
	const d = await backlogDeployment("amqp", url, many, opts);
	const conn = await amqp.connect(url, { noDelay: true });
	try {
		await d.stopConsumers();
		const rawQueue = `bench-raw-${Date.now()}`;
		const ch = await conn.createConfirmChannel();
		await ch.assertQueue(rawQueue, { durable: true });
		await ch.bindQueue(rawQueue, d.channel, "");
		const started = performance.now();
		for (let i = 0; i < n; i++) {
			// the publish buffer's back-pressure, then RabbitMQ's confirms every 1 000
			if (!ch.publish(d.channel, "", Buffer.from(seedReport(i, cans)), { persistent: true })) await new Promise(r => ch.once("drain", r));
			if (i % 1_000 === 999) await ch.waitForConfirms();
		}
		await ch.waitForConfirms();
		const producer = n / ((performance.now() - started) / 1000);
		const raw = await rawAmqpDrain(url, rawQueue, n);
		await ch.deleteQueue(rawQueue);
		await ch.close();

		const spawned = await d.startConsumers(many, 0);
		const manyDrain = await drain(d.sys, d.pg, 0, n, opts, undefined, spawned);
		opts.finished?.();
		return { producer, raw, many: manyDrain };
	} finally {
		await conn.close();
		await d.stop();
	}
}

async function main() {
	const n = Number(process.env.BENCH_REPORTS ?? 20_000);
	const [nats, rabbit, postgres] = await Promise.all([startNats({ jetstream: true }), startRabbit(), startPostgres()]);
	process.env.TEST_PG_URL = postgres.url;
	const progress = (kind: string) => (count: number) => process.stderr.write(`\r  ${kind}: ${count}/${n} applied`);
	try {
		process.stderr.write("raw nats publish/subscribe…\n");
		const baseline = await rawNats(nats.url, n);
		process.stderr.write("NATS JetStream ingest…\n");
		const onNats = await ingest("nats", nats.url, n, { progress: progress("nats") });
		process.stderr.write("\nRabbitMQ ingest…\n");
		const onAmqp = await ingest("amqp", rabbit.url, n, { progress: progress("amqp") });
		console.log(`\n${n} reports, three trashReport processes on PostgreSQL (${new Date().toISOString()})\n`);
		console.log("| path | reports/s | published/s | lost | mean batch | × raw nats |\n|---|---:|---:|---:|---:|---:|");
		console.log(`| raw nats publish → subscribe + JSON.parse (baseline) | ${baseline.toFixed(0)} | – | – | – | 1.00 |`);
		for (const [path, r] of [
			["NATS JetStream → trashReport → PostgreSQL", onNats],
			["RabbitMQ → trashReport → PostgreSQL", onAmqp]
		] as const)
			console.log(
				`| ${path} | ${r.rate.toFixed(0)} | ${r.publishRate.toFixed(0)} | ${r.lost} | ${r.meanBatch.toFixed(1)} | ${(r.rate / baseline).toFixed(3)} |`
			);
	} finally {
		await Promise.all([nats.stop(), rabbit.stop(), postgres.stop()]);
	}
}

if (require.main === module) {
	main().catch(err => {
		console.error(err);
		process.exit(1);
	});
}
