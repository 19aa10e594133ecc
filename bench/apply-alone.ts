/**
 * Row 5k of `npm run bench` alone (bench/store-alone.ts): the ingest's store work without the
 * framework, a raw JetStream consumer feeding trashReport's `Batcher` and `applyBatch` on
 * PostgreSQL, on servers of its own. What it costs per report, against rows 5e–5h, says what the
 * framework around it costs, and what any consumer with this store can reach at best.
 *
 *   npx tsx bench/apply-alone.ts                  (BENCH_REPORTS=50000, 1 000 cans)
 */
import { startNats, startPostgres } from "../harness/servers";
import { storeAloneDrain } from "./ingest";

async function main() {
	const n = Number(process.env.BENCH_REPORTS ?? 50_000);
	const [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
	process.env.TEST_PG_URL = pg.url;
	try {
		const d = await storeAloneDrain(nats.url, n, 1_000);
		console.log(
			`${n} reports, 1 000 cans (after ${n} that fill the windows): ${Math.round(d.rate)} reports/s, ` +
				`${Math.round(d.consumersCpuUs)} µs of the consumer's CPU per report (${Math.round(d.cpuUs)} with NATS and PostgreSQL), ` +
				`${d.meanBatch.toFixed(0)} reports a batch`
		);
	} finally {
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
