/**
 * The container image's HEALTHCHECK (one image runs every service, chosen by `SERVICES`):
 *  - a process running `rest` is healthy when `GET /health/live` on `PORT` answers 200;
 *  - any other process has no HTTP server but the Prometheus reporter, so it is healthy when
 *    `GET /metrics` on `METRICS_PORT` answers 200 (the broker started and serves its metrics);
 *  - with `METRICS=false` such a process has nothing to ask: it counts as healthy while it runs.
 * Exit code 0 = healthy, 1 = not (what Docker expects). The image has no curl: Node's fetch.
 */
import { loadConfig } from "../lib/config";

const config = loadConfig();
const url = config.services.includes("rest")
	? `http://127.0.0.1:${config.port}/health/live`
	: config.metrics
		? `http://127.0.0.1:${config.metricsPort}/metrics`
		: null;

if (url) {
	fetch(url, { signal: AbortSignal.timeout(3_000) }).then(
		res => process.exit(res.ok ? 0 : 1),
		(err: Error) => {
			console.error(`${url}: ${err.message}`);
			process.exit(1);
		}
	);
}
