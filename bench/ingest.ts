/**
 * Ingest throughput (row 5 of `npm run bench`): a burst of simulated reports applied through the
 * durable `trash-level` channel by three trashReport processes on PostgreSQL, on NATS JetStream and
 * on RabbitMQ, against a raw `nats` publish/subscribe baseline measured in the same run.
 * Loopback only, bounded. Run alone (three rows, a markdown table) with:
 *
 *   npm run bench:ingest              (BENCH_REPORTS=20000 by default)
 */
import { AckPolicy, connect, DeliverPolicy, StringCodec } from "nats";
import { Client } from "pg";
import type { ServiceSchema } from "moleculer";
import Simulator from "../services/simulator.service";
import { startDeployment } from "../harness/deployment";
import type { Deployment, DeploymentKind } from "../harness/deployment";
import { startNats, startPostgres, startRabbit } from "../harness/servers";
import { ingestStats } from "../lib/ingest/stats";
import { CHANNEL } from "../lib/ingest/report";

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
		const applied = () => appliedCount(pg);
		const started = performance.now();
		await sys.broker.call("simulator.burst", { count: n }, { timeout: 0 });
		const publishRate = n / ((performance.now() - started) / 1000);
		const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
		let count = 0;
		while ((count = await applied()) < n && Date.now() < deadline) {
			opts.progress?.(count);
			await new Promise(r => setTimeout(r, 250));
		}
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
export async function fillBacklog(url: string, channel: string, n: number, cans: number, retentionMs = 3_600_000): Promise<void> {
	const nc = await connect({ servers: url });
	const stream = streamOf(channel);
	try {
		const jsm = await nc.jetstreamManager();
		await jsm.streams.add({ name: stream, subjects: [channel], max_age: retentionMs * 1_000_000, num_replicas: 1 });
		const first = (await jsm.streams.info(stream)).state.messages;
		const sc = StringCodec();
		for (let i = 0; i < n; i++) {
			nc.publish(channel, sc.encode(seedReport(i, cans)));
			if (i % 1_000 === 999) await nc.flush();
		}
		await nc.flush();
		while ((await jsm.streams.info(stream)).state.messages < first + n) await new Promise(r => setTimeout(r, 50));
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

export interface BacklogResult extends IngestResult {
	/** The raw consumer's rate on the same backlog, drained first. */
	raw: number;
	/** CPU seconds of the machine (`cpu`) per report applied, µs, over the same time as the rate. */
	cpuUsPerReport: number | null;
}

/**
 * A backlog drained twice: `n` reports of `cans` cans put in the stream of a NATS deployment while
 * its trashReport processes are stopped, drained first by the raw consumer (`rawJetStreamDrain`),
 * then by those processes started again. The system's rate is over the time from its
 * first report applied to its last (process start-up excluded).
 */
export async function backlogDrain(url: string, n: number, cans: number, opts: IngestOptions & { cpu?: () => number } = {}): Promise<BacklogResult> {
	const consumers = Array.from({ length: opts.consumers ?? 3 }, (_, i) => `trashReport-${i + 1}`);
	const sys = await startDeployment("nats", {
		transporter: url,
		env: opts.env,
		layout: [["gateway", ["rest", "systemManager", "pilot", "db"]], ...consumers.map((name): [string, ["trashReport"]] => [name, ["trashReport"]])]
	});
	const pg = new Client({ connectionString: sys.env.DB_URI });
	await pg.connect();
	try {
		// the group's durable consumer exists; every consumer process stops before the backlog comes
		for (const proc of sys.procs.filter(p => p.services.includes("trashReport"))) await sys.kill(proc, "SIGTERM");
		const channel = sys.env.NAMESPACE ? `${sys.env.NAMESPACE}.${CHANNEL}` : CHANNEL;
		const fillStarted = performance.now();
		await fillBacklog(url, channel, n, cans);
		const publishRate = n / ((performance.now() - fillStarted) / 1000);
		const raw = await rawJetStreamDrain(url, channel, n);
		const applied = () => appliedCount(pg);
		// (the spawn as the start when the whole backlog is applied before the first look)
		let first = { at: performance.now(), count: 0, cpu: opts.cpu?.() };
		for (const name of consumers) await sys.spawn(name, ["trashReport"]);
		opts.started?.(sys);
		const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
		let count = 0;
		while ((count = await applied()) < n && Date.now() < deadline) {
			if (first.count === 0 && count > 0) first = { at: performance.now(), count, cpu: opts.cpu?.() };
			opts.progress?.(count);
			await new Promise(r => setTimeout(r, 50));
		}
		const rate = (count - first.count) / ((performance.now() - first.at) / 1000);
		const cpu = first.cpu != null && opts.cpu ? ((opts.cpu() - first.cpu) / (count - first.count)) * 1e6 : null;
		opts.finished?.();
		const { batches, batched } = await ingestStats(sys.broker);
		return { rate, lost: n - count, meanBatch: batched / batches, publishRate, raw, cpuUsPerReport: cpu };
	} finally {
		await pg.end();
		await sys.stop();
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
