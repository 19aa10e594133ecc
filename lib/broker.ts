import { ServiceBroker } from "moleculer";
import type { BrokerOptions, ServiceSchema } from "moleculer";
import brokerConfig, { brokerMiddlewares, transporterFor } from "../moleculer.config";
import { config } from "./config";
import type { ServiceName } from "./config";

/** Loads a service module by name, so a process only imports the services it runs. */
const loaders: Record<ServiceName, () => Promise<{ default: object }>> = {
	systemManager: () => import("../services/systemManager.service"),
	rest: () => import("../services/rest.service"),
	pilot: () => import("../services/pilot.service"),
	db: () => import("../services/db.service"),
	trashReport: () => import("../services/trashReport.service"),
	simulator: () => import("../services/simulator.service")
};

/**
 * A broker configured by moleculer.config.ts (plus `overrides`) running the named services —
 * `SERVICES` by default — on the bus at `transporter` (`TRANSPORTER` by default), with the
 * channel adapter that goes with it. Used by `npm start`, the CLI and the tests alike.
 */
export async function createBroker(
	services: ServiceName[] = config.services,
	overrides: Partial<BrokerOptions> = {},
	settings: Partial<Record<ServiceName, object>> = {},
	transporter: string | null = config.transporter
): Promise<ServiceBroker> {
	const broker = new ServiceBroker({
		...brokerConfig,
		transporter: transporterFor(transporter),
		// middlewares hold per-broker state (channel adapter, metrics), so every broker gets its own
		middlewares: brokerMiddlewares(transporter),
		...overrides
	});
	for (const name of services) {
		const schema = (await loaders[name]()).default as ServiceSchema;
		// `settings` lets a test run a service with other settings than the env gave it.
		broker.createService(settings[name] ? { name, mixins: [schema], settings: settings[name] } : schema);
	}
	return broker;
}
