import { Discoverers } from "moleculer";
import type { Registry } from "moleculer";

type Node = { local: boolean; available: boolean; lastHeartbeatTime: number };
type LocalBase = new (opts?: object) => {
	registry: { nodes: { toArray(): Node[]; get(id: string): Node | undefined } };
	broker: { localBus: { on(event: string, fn: () => void): void } };
	init(registry: Registry): void;
	processRemoteNodeInfo(nodeID: string, payload: object): unknown;
};

const uptime = () => Math.round(process.uptime());

/**
 * Moleculer's local discoverer, without dropping nodes for heartbeats lost in a bus outage.
 *
 * While this node's connection is down it hears no one; the heartbeat check pauses then, but on
 * reconnection it judges every node by its last heartbeat from before the outage, and each node
 * reconnects on its own schedule (the AMQP transporter retries every 5 s). So nodes that were fine
 * were dropped from the registry a few seconds after the bus came back — calls to them 503 — and
 * found again at their next heartbeat (seen after a RabbitMQ restart: /workers lost pilot and db
 * although the system had been ready). Here each node gets a full heartbeatTimeout from our
 * reconnection, and any INFO it sends (it sends one when it reconnects) counts as a sign of life.
 */
export class OutageTolerantDiscoverer extends (Discoverers.Local as unknown as LocalBase) {
	override init(registry: Registry): void {
		super.init(registry);
		this.broker.localBus.on("$transporter.connected", () => {
			for (const node of this.registry.nodes.toArray()) if (!node.local && node.available) node.lastHeartbeatTime = uptime();
		});
	}

	override processRemoteNodeInfo(nodeID: string, payload: object): unknown {
		const result = super.processRemoteNodeInfo(nodeID, payload);
		const node = this.registry.nodes.get(nodeID);
		if (node) node.lastHeartbeatTime = uptime();
		return result;
	}
}

// by name, so that every broker made from moleculer.config.ts gets an instance of its own
(Discoverers as unknown as { register(name: string, value: unknown): void }).register("OutageTolerant", OutageTolerantDiscoverer);
