/**
 * Ingest throughput: a burst of simulated reports applied through the durable `trash-level`
 * channel by three trashReport processes on PostgreSQL, on NATS JetStream and on RabbitMQ, against
 * a raw `nats` publish/subscribe baseline measured in the same run. Loopback only, bounded.
 *
 *   npm run bench:ingest              (BENCH_REPORTS=20000 by default)
 */
import { connect, StringCodec } from "nats";
import { Client } from "pg";
import type { ServiceSchema } from "moleculer";
import Simulator from "../services/simulator.service";
import { startDeployment } from "../test/support/deployment";
import type { DeploymentKind } from "../test/support/deployment";
import { startNats, startPostgres, startRabbit } from "../test/support/servers";

const N = Number(process.env.BENCH_REPORTS ?? 20_000);

async function rawNats(url: string): Promise<number> {
	const nc = await connect({ servers: url });
	const sc = StringCodec();
	let received = 0;
	const done = new Promise<void>(resolve => {
		nc.subscribe("bench-raw", {
			callback: (_err, msg) => {
				JSON.parse(sc.decode(msg.data));
				if (++received === N) resolve();
			}
		});
	});
	await nc.flush();
	const started = performance.now();
	for (let i = 0; i < N; i++) {
		nc.publish("bench-raw", sc.encode(JSON.stringify({ can_id: String(301 + (i % 10)), level: (i % 100).toFixed(2) })));
		if (i % 1_000 === 0) await nc.flush();
	}
	await done;
	const rate = N / ((performance.now() - started) / 1000);
	await nc.close();
	return rate;
}

async function ingest(kind: DeploymentKind, transporter: string): Promise<{ rate: number; lost: number }> {
	const sys = await startDeployment(kind, {
		transporter,
		layout: [
			["gateway", ["rest", "systemManager", "pilot", "db"]],
			["trashReport-1", ["trashReport"]],
			["trashReport-2", ["trashReport"]],
			["trashReport-3", ["trashReport"]]
		]
	});
	const pg = new Client({ connectionString: sys.env.DB_URI });
	await pg.connect();
	try {
		await sys.broker.createService({ name: "simulator", mixins: [Simulator], settings: { cans: 10, autostart: false } } as ServiceSchema);
		await sys.broker.waitForServices("simulator");
		const applied = async () => Number((await pg.query(`SELECT count(*) FROM reports WHERE status = 'applied'`)).rows[0].count);
		const started = performance.now();
		await sys.broker.call("simulator.burst", { count: N }, { timeout: 0 });
		const deadline = Date.now() + Number(process.env.BENCH_TIMEOUT_MS ?? 300_000);
		let count = 0;
		while ((count = await applied()) < N && Date.now() < deadline) {
			process.stderr.write(`\r  ${kind}: ${count}/${N} applied`);
			await new Promise(r => setTimeout(r, 250));
		}
		process.stderr.write("\n");
		if (count < N) for (const p of sys.procs) process.stderr.write(`--- ${p.name} (last output) ---\n${p.output.slice(-1_500)}\n`);
		return { rate: count / ((performance.now() - started) / 1000), lost: N - count };
	} finally {
		await pg.end();
		await sys.stop();
	}
}

async function main() {
	const [nats, rabbit, postgres] = await Promise.all([startNats({ jetstream: true }), startRabbit(), startPostgres()]);
	process.env.TEST_PG_URL = postgres.url;
	try {
		process.stderr.write("raw nats publish/subscribe…\n");
		const baseline = await rawNats(nats.url);
		process.stderr.write("NATS JetStream ingest…\n");
		const onNats = await ingest("nats", nats.url);
		process.stderr.write("RabbitMQ ingest…\n");
		const onAmqp = await ingest("amqp", rabbit.url);
		console.log(`\n${N} reports, three trashReport processes on PostgreSQL (${new Date().toISOString()})\n`);
		console.log("| path | reports/s | lost | × raw nats |\n|---|---:|---:|---:|");
		console.log(`| raw nats publish → subscribe + JSON.parse (baseline) | ${baseline.toFixed(0)} | – | 1.00 |`);
		console.log(`| NATS JetStream → trashReport → PostgreSQL | ${onNats.rate.toFixed(0)} | ${onNats.lost} | ${(onNats.rate / baseline).toFixed(3)} |`);
		console.log(`| RabbitMQ → trashReport → PostgreSQL | ${onAmqp.rate.toFixed(0)} | ${onAmqp.lost} | ${(onAmqp.rate / baseline).toFixed(3)} |`);
	} finally {
		await Promise.all([nats.stop(), rabbit.stop(), postgres.stop()]);
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
