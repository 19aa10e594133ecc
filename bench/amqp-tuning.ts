/**
 * Why lib/bus tunes the AMQP transporter: calls/s between two nodes on a real RabbitMQ
 * with the transporter's defaults (prefetch 1, Nagle on) against the tuned options, in one run,
 * with NATS as a reference. Loopback only; ~3 s per row.
 *
 *   npm run bench:amqp            (CALLS_SECONDS=3 CONCURRENCY=16 by default)
 */
import { ServiceBroker } from "moleculer";
import type { BrokerOptions } from "moleculer";
import { createBus } from "../lib/bus";
import { startNats, startRabbit } from "../harness/servers";

const SECONDS = Number(process.env.CALLS_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);

/** `transporter()` makes one for each broker: a transporter instance belongs to one broker. */
async function callsPerSecond(transporter: () => BrokerOptions["transporter"]): Promise<{ rate: number; p99: number }> {
	const ns = `bench-${Math.random().toString(36).slice(2, 8)}`;
	const options = { namespace: ns, logger: false, requestTimeout: 10_000 } satisfies BrokerOptions;
	const server = new ServiceBroker({ ...options, transporter: transporter(), nodeID: "server" });
	server.createService({ name: "echo", actions: { echo: (ctx: { params: unknown }) => ctx.params } });
	const client = new ServiceBroker({ ...options, transporter: transporter(), nodeID: "client" });
	await Promise.all([server.start(), client.start()]);
	await client.waitForServices("echo");
	const latencies: number[] = [];
	const deadline = Date.now() + SECONDS * 1_000;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			while (Date.now() < deadline) {
				const t = performance.now();
				await client.call("echo.echo", { canId: "333", level: 30.65 });
				latencies.push(performance.now() - t);
			}
		})
	);
	await Promise.all([client.stop(), server.stop()]);
	latencies.sort((a, b) => a - b);
	return { rate: latencies.length / SECONDS, p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
}

/** The transporter the system would use on `url` (a new one: an instance belongs to one broker). */
const busTransporter = (url: string) => createBus(url, { retentionMs: 60_000, streamReplicas: 1 }).transporter;

async function main() {
	const [rabbit, nats] = await Promise.all([startRabbit(), startNats()]);
	try {
		const rows: [string, () => BrokerOptions["transporter"]][] = [
			["AMQP, transporter defaults (prefetch 1, Nagle on)", () => ({ type: "AMQP", options: { url: rabbit.url } })],
			["AMQP, prefetch 64 only", () => ({ type: "AMQP", options: { url: rabbit.url, prefetch: 64 } })],
			["AMQP, noDelay only", () => ({ type: "AMQP", options: { url: rabbit.url, socketOptions: { noDelay: true } } as object })],
			["AMQP, tuned (lib/bus)", () => busTransporter(rabbit.url)],
			["NATS (lib/bus), reference", () => busTransporter(nats.url)]
		];
		const results: { row: string; rate: number; p99: number }[] = [];
		for (const [row, transporter] of rows) {
			process.stderr.write(`measuring ${row}…\n`);
			results.push({ row, ...(await callsPerSecond(transporter)) });
		}
		const baseline = results[0].rate;
		console.log(`\nRequest/reply calls between two nodes, concurrency ${CONCURRENCY}, ${SECONDS} s per row (${new Date().toISOString()})\n`);
		console.log("| transport | calls/s | p99 ms | × defaults |\n|---|---:|---:|---:|");
		for (const r of results) console.log(`| ${r.row} | ${r.rate.toFixed(0)} | ${r.p99.toFixed(1)} | ${(r.rate / baseline).toFixed(1)} |`);
	} finally {
		await Promise.all([rabbit.stop(), nats.stop()]);
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
