/**
 * A broker running services by name: moleculer.config.ts's options (plus `overrides`) and the
 * named service modules, each imported only by a process that runs it. What `npm start`, the CLIs,
 * the tests and the benches start (`npm run dev` goes through moleculer-runner instead).
 */
import { ServiceBroker } from "moleculer";
import type { BrokerOptions, ServiceSchema } from "moleculer";
import brokerOptions from "./moleculer.config";
import { config } from "./lib/config";
import type { ServiceName } from "./lib/config";

const loaders: Record<ServiceName, () => Promise<{ default: object }>> = {
	systemManager: () => import("./services/systemManager.service"),
	rest: () => import("./services/rest.service"),
	pilot: () => import("./services/pilot.service"),
	db: () => import("./services/db.service"),
	trashReport: () => import("./services/trashReport.service"),
	simulator: () => import("./services/simulator.service")
};

/**
 * `services` (`SERVICES` by default) on the bus at `transporter` (`TRANSPORTER` by default);
 * `settings` runs a service with other settings than the env gave it (tests, CLIs).
 */
export async function createBroker(
	services: ServiceName[] = config.services,
	overrides: Partial<BrokerOptions> = {},
	settings: Partial<Record<ServiceName, object>> = {},
	transporter: string | null = config.transporter
): Promise<ServiceBroker> {
	const broker = new ServiceBroker({ ...brokerOptions(transporter), ...overrides });
	for (const name of services) {
		const schema = (await loaders[name]()).default as ServiceSchema;
		broker.createService(settings[name] ? { name, mixins: [schema], settings: settings[name] } : schema);
	}
	return broker;
}
