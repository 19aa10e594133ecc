/**
 * `npm run burst -- --count 100000`: publishes a burst of simulated reports on the `trash-level`
 * channel of the bus in `TRANSPORTER` and follows them until trashReport has applied them all,
 * with a progress bar. Without a transporter it runs trashReport in this process (NeDB under
 * DATA_DIR, so not beside a running `npm start` on the same files).
 */
import { parseArgs } from "node:util";
import type { ServiceBroker } from "moleculer";
import { createBroker } from "../broker";
import { config } from "../lib/config";
import { ingestStats } from "../lib/ingest/stats";

const { values: args } = parseArgs({
	options: {
		count: { type: "string", default: "10000" },
		batch: { type: "string", default: "1000" },
		cans: { type: "string", default: String(config.simCans) }
	}
});
const count = Number(args.count);
const batch = Math.max(1, Math.min(Number(args.batch), count));
if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
	console.error("--count must be an integer in 1…1000000");
	process.exit(2);
}

function bar(label: string, done: number, total: number, startedAt: number) {
	const width = 30;
	const filled = Math.round((done / total) * width);
	const rate = done / Math.max((Date.now() - startedAt) / 1000, 0.001);
	process.stderr.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${rate.toFixed(0)}/s   `);
}

/** Reports trashReport is done with: applied, duplicates and rejected alike. */
async function handled(broker: ServiceBroker) {
	const s = await ingestStats(broker);
	return s.applied + s.duplicates + Object.values(s.rejected).reduce((a, b) => a + b, 0);
}

async function main() {
	const services = config.transporter ? (["simulator"] as const) : (["trashReport", "simulator"] as const);
	const broker = await createBroker(
		[...services],
		{ nodeID: `burst-${process.pid}`, logger: false, metrics: false },
		{ simulator: { cans: Number(args.cans), autostart: false } }
	);
	await broker.start();
	try {
		await broker.waitForServices("trashReport", 15_000);
		const before = await handled(broker);
		const started = Date.now();
		for (let sent = 0; sent < count; sent += batch) {
			await broker.call("simulator.burst", { count: Math.min(batch, count - sent) }, { timeout: 0 });
			bar("published", Math.min(sent + batch, count), count, started);
		}
		const publishedMs = Date.now() - started;
		process.stderr.write("\n");
		let last = -1;
		let lastChange = Date.now();
		for (;;) {
			const done = Math.min((await handled(broker)) - before, count);
			bar("applied  ", done, count, started);
			if (done >= count) break;
			if (done !== last) [last, lastChange] = [done, Date.now()];
			else if (Date.now() - lastChange > 30_000) throw new Error(`no progress for 30 s at ${done}/${count} (is every trashReport replica up?)`);
			await new Promise(r => setTimeout(r, 250));
		}
		const ms = Date.now() - started;
		process.stderr.write("\n");
		console.log(
			`${count} reports: published in ${publishedMs} ms (${Math.round(count / (publishedMs / 1000))}/s), applied in ${ms} ms (${Math.round(count / (ms / 1000))}/s)`
		);
	} finally {
		await broker.stop();
	}
}

main().catch(err => {
	console.error(`\nburst failed: ${err instanceof Error ? err.message : err}`);
	process.exit(1);
});
