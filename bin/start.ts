/**
 * `npm start`: runs the services named in `SERVICES` (all six by default) in this process,
 * on the transporter named in `TRANSPORTER` (none: everything in-process).
 */
import "./compile-cache";
import { createBroker } from "../broker";
import { config, maskUri } from "../lib/config";

createBroker()
	.then(broker => {
		broker.logger.info(`Services: ${config.services.join(", ")}; transporter: ${config.transporter ? maskUri(config.transporter) : "none (one process)"}`);
		return broker.start();
	})
	.catch(err => {
		console.error("Failed to start:", err instanceof Error ? err.message : err);
		process.exit(1);
	});
