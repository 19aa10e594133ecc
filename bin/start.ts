/**
 * `npm start`: runs the services named in `SERVICES` (all six by default) in this process,
 * on the transporter named in `TRANSPORTER` (none: everything in-process).
 */
import "./compile-cache";
import v8 from "node:v8";
import { createBroker } from "../broker";
import { config, maskUri } from "../lib/config";

// An ingest process (trashReport without the gateway) holds two batches of reports and their
// windows across PostgreSQL round trips. `npm start`'s --max-old-space-size also pins V8's heap
// growing factor near its minimum (1.1–1.3), a full collection every few megabytes: here the heap
// may grow to twice what is live, still within that bound. 10–25 % less CPU per report for 15–30
// MB more; processes serving HTTP gain nothing from it (docs/benchmarks.md, Ingest). Node refuses
// this V8 flag in NODE_OPTIONS, and V8 reads it each time it sets the next limit: set here.
if (config.services.includes("trashReport") && !config.services.includes("rest")) v8.setFlagsFromString("--heap-growing-percent=100");

createBroker()
	.then(broker => {
		broker.logger.info(`Services: ${config.services.join(", ")}; transporter: ${config.transporter ? maskUri(config.transporter) : "none (one process)"}`);
		return broker.start();
	})
	.catch(err => {
		console.error("Failed to start:", err instanceof Error ? err.message : err);
		process.exit(1);
	});
