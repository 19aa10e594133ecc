import { startNats, startPostgres } from "../harness/servers";
import { natsBacklog } from "./ingest";
async function main() {
	const [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
	process.env.TEST_PG_URL = pg.url;
	try {
		const r = await natsBacklog(nats.url, 30_000, 1_000, { consumers: 1, env: { NODE_OPTIONS: "--require /tmp/hp/preload.cjs", METRICS: "true", METRICS_PORT: "0", LOG_LEVEL: "info" } });
		console.log(r.many.rate, r.one.rate);
	} finally { await Promise.all([nats.stop(), pg.stop()]); }
}
void main();
