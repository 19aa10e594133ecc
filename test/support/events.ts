import type { ServiceBroker, ServiceSchema } from "moleculer";
import type { Deployment } from "../../harness/deployment";
import { eventually } from "../../harness/system";
import type { ServiceName } from "../../lib/config";
import type { CanAlert } from "../../lib/contracts";

/** A service on the test's node that keeps every `can.*` alert it hears in `heard`. */
export async function listenToAlerts(broker: ServiceBroker, heard: CanAlert[]): Promise<void> {
	await broker.createService({
		name: "alert-listener",
		events: {
			"can.*"(ctx: { params: CanAlert }) {
				heard.push(ctx.params);
			}
		}
	} as ServiceSchema);
}

/**
 * Waits until every replica of `emitter` knows of the test node's listener of `event`: a node
 * sends an event only to the listeners its registry holds, and a service created after the
 * deployment started reaches the others' registries with the next INFO.
 */
export async function listenerKnown(sys: Deployment, event: string, emitter: ServiceName = "trashReport"): Promise<void> {
	const replicas = sys.procs.filter(p => p.services.includes(emitter));
	await eventually(
		async () => {
			for (const proc of replicas) {
				const events = await sys.broker.call<{ name: string; endpoints?: { nodeID: string }[] }[], object>(
					"$node.events",
					{ onlyLocal: false, withEndpoints: true },
					{ nodeID: proc.nodeID }
				);
				if (!events.some(e => e.name === event && e.endpoints?.some(ep => ep.nodeID === sys.broker.nodeID))) return false;
			}
			return true;
		},
		20_000,
		200
	);
}
