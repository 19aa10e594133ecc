/**
 * Row 5k's consumer, run as its own process by `storeAloneDrain` (bench/ingest.ts) with the
 * services' Node flags: the ingest's store work without the framework around it. A raw JetStream
 * durable pull consumer (nats.js `consume`) hands each seed-format report to the same `Batcher`
 * and `applyBatch` on PostgreSQL that trashReport uses, and acks it once its batch is written. No
 * broker, channel adapter, Context, metrics, logs or broadcasts, and alerts are not published.
 *
 * Reads STORE_ALONE (JSON: `StoreAloneJob`); prints `timing` once `warm` reports are applied (every
 * can's window is full by then, as in rows 5e–5h), then `done <json>` after `n` more and exits.
 */
import { AckPolicy, connect, DeliverPolicy } from "nats";
import { CHANNEL_IN_FLIGHT, GROUP_IN_FLIGHT } from "../lib/bus";
import { applyBatch, INGEST_TABLES } from "../lib/ingest/apply";
import type { Applied, IngestStores, Pending } from "../lib/ingest/apply";
import { Batcher } from "../lib/ingest/batcher";
import { busIdentity } from "../lib/ingest/identity";
import { checkMessage } from "../lib/ingest/report";
import { SqlAdapter, sqlStore } from "../lib/store/sql";

export interface StoreAloneJob {
	natsUrl: string;
	stream: string;
	dbUri: string;
	warm: number;
	n: number;
}

/** What the consumer says when done: its own CPU per report timed (and over its whole life, per report applied), and its batches' mean size. */
export interface StoreAloneResult {
	processCpuUs: number;
	totalCpuUs: number;
	meanBatch: number;
}

async function main() {
	const { natsUrl, stream, dbUri, warm, n } = JSON.parse(process.env.STORE_ALONE!) as StoreAloneJob;
	const stores: Record<string, unknown> = {};
	for (const [table, columns] of Object.entries(INGEST_TABLES)) {
		const adapter = new SqlAdapter(dbUri, table, columns);
		await adapter.connect();
		stores[table] = sqlStore(adapter, table);
	}
	const nc = await connect({ servers: natsUrl });
	const jsm = await nc.jetstreamManager();
	// as the trashReport group's: every report, the same limit of unacked ones
	await jsm.consumers.add(stream, {
		durable_name: "store-alone",
		ack_policy: AckPolicy.Explicit,
		deliver_policy: DeliverPolicy.All,
		max_ack_pending: GROUP_IN_FLIGHT
	});
	const consumer = await nc.jetstream().consumers.get(stream, "store-alone");

	let batches = 0;
	let batched = 0;
	const settings = { fullThreshold: 80, emptiedDrop: 30, overfullAfterMs: 3_600_000 };
	// trashReport's own batching (services/trashReport.service.ts)
	const applier = new Batcher<Pending, Applied>(
		items => {
			batches++;
			batched += items.length;
			return applyBatch(stores as unknown as IngestStores, items, { appliedBy: "store-alone", settings, raise: async () => {}, registry: async () => [] });
		},
		{ maxSize: CHANNEL_IN_FLIGHT, maxConcurrent: 2 }
	);
	const cpu = () => (({ user, system }) => (user + system) / 1e6)(process.cpuUsage());
	let from = { cpu: 0, batches: 0, batched: 0 };
	let applied = 0;
	const messages = await consumer.consume({ max_messages: GROUP_IN_FLIGHT });
	await new Promise<void>((resolve, reject) => {
		void (async () => {
			for await (const m of messages) {
				const checked = checkMessage(JSON.parse(m.string()), busIdentity(m));
				if (!checked.ok) return reject(new Error(`rejected: ${checked.errors[0]?.message}`));
				applier.add({ report: checked.report, receivedAt: new Date().toISOString() }).then(() => {
					m.ack();
					if (++applied === warm) {
						from = { cpu: cpu(), batches, batched };
						process.stdout.write("timing\n");
					}
					if (applied === warm + n) resolve();
				}, reject);
			}
		})();
	});
	await nc.flush();
	const result: StoreAloneResult = {
		processCpuUs: ((cpu() - from.cpu) / n) * 1e6,
		totalCpuUs: (cpu() / (warm + n)) * 1e6,
		// (the timed half's batches; all of them when it had none of its own, as in `--smoke`)
		meanBatch: batches > from.batches ? (batched - from.batched) / (batches - from.batches) : batched / Math.max(batches, 1)
	};
	process.stdout.write(`done ${JSON.stringify(result)}\n`);
	await messages.close();
	await nc.close();
}

main().then(
	() => process.exit(0),
	err => {
		console.error(err);
		process.exit(1);
	}
);
