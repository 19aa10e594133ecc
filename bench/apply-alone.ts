/**
 * The ingest's apply path without the framework around it: a raw JetStream durable pull consumer
 * (nats.js `consume`) hands each seed-format report to the same `Batcher` and `applyBatch` on
 * PostgreSQL that trashReport uses, and acks it once its batch is written. No Moleculer broker,
 * channel middleware, Context, metrics or `level.updated` broadcast. What it costs per report,
 * against row 5f of `npm run bench` (one trashReport process), says what those layers cost and so
 * what a consumer of its own inside trashReport (issue #16's fallback) could gain.
 *
 *   npx tsx bench/apply-alone.ts                                  (BENCH_REPORTS=50000, 1 000 cans)
 *   NODE_OPTIONS="--max-semi-space-size=2" npx tsx bench/apply-alone.ts   (the services' young generation)
 */
import { AckPolicy, connect, DeliverPolicy } from "nats";
import { freshDatabase } from "../harness/deployment";
import { CHANNEL_IN_FLIGHT, GROUP_IN_FLIGHT } from "../lib/bus";
import { startNats, startPostgres } from "../harness/servers";
import { applyBatch, INGEST_TABLES } from "../lib/ingest/apply";
import type { Applied, IngestStores, Pending } from "../lib/ingest/apply";
import { Batcher } from "../lib/ingest/batcher";
import { busIdentity } from "../lib/ingest/identity";
import { checkMessage } from "../lib/ingest/report";
import { SqlAdapter, sqlStore } from "../lib/store/sql";
import { fillBacklog } from "./ingest";

const STREAM = "apply-alone";

async function main() {
	const n = Number(process.env.BENCH_REPORTS ?? 50_000);
	const [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
	process.env.TEST_PG_URL = pg.url;
	const nc = await connect({ servers: nats.url });
	try {
		const uri = await freshDatabase("apply_alone");
		const stores: Record<string, unknown> = {};
		for (const [table, columns] of Object.entries(INGEST_TABLES)) {
			const adapter = new SqlAdapter(uri, table, columns);
			await adapter.connect();
			stores[table] = sqlStore(adapter, table);
		}
		const jsm = await nc.jetstreamManager();
		await jsm.streams.add({ name: STREAM, subjects: [STREAM], max_age: 3_600_000 * 1_000_000, num_replicas: 1 });
		await fillBacklog(nats.url, STREAM, n, 1_000);
		// as the trashReport group's: every report, the same limit of unacked ones
		await jsm.consumers.add(STREAM, {
			durable_name: "apply",
			ack_policy: AckPolicy.Explicit,
			deliver_policy: DeliverPolicy.All,
			max_ack_pending: GROUP_IN_FLIGHT
		});
		const consumer = await nc.jetstream().consumers.get(STREAM, "apply");

		let batches = 0;
		const settings = { fullThreshold: 80, emptiedDrop: 30, overfullAfterMs: 3_600_000 };
		const applier = new Batcher<Pending, Applied>(
			items => {
				batches++;
				return applyBatch(stores as unknown as IngestStores, items, { appliedBy: "apply-alone", settings, raise: async () => {}, registry: async () => [] });
			},
			{ maxSize: CHANNEL_IN_FLIGHT, maxConcurrent: 2 }
		);
		const cpu = () => (({ user, system }) => (user + system) / 1e6)(process.cpuUsage());
		let first = { at: 0, cpu: 0 };
		let applied = 0;
		const messages = await consumer.consume({ max_messages: GROUP_IN_FLIGHT });
		await new Promise<void>((resolve, reject) => {
			void (async () => {
				for await (const m of messages) {
					const checked = checkMessage(JSON.parse(m.string()), busIdentity(m));
					if (!checked.ok) return reject(new Error(`rejected: ${checked.errors[0]?.message}`));
					applier.add({ report: checked.report, receivedAt: new Date().toISOString() }).then(() => {
						m.ack();
						if (++applied === 1) first = { at: performance.now(), cpu: cpu() };
						if (applied === n) resolve();
					}, reject);
				}
			})();
		});
		const seconds = (performance.now() - first.at) / 1000;
		console.log(
			`${n} reports, 1 000 cans, ${process.env.NODE_OPTIONS ?? "default flags"}: ${Math.round((n - 1) / seconds)} reports/s, ` +
				`${Math.round(((cpu() - first.cpu) / (n - 1)) * 1e6)} µs of this process's CPU per report, ${(n / batches).toFixed(0)} reports a batch`
		);
		await messages.close();
	} finally {
		await nc.close();
		await Promise.all([nats.stop(), pg.stop()]);
	}
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
