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
 * Moleculer's local discoverer, without dropping nodes for heartbeats lost in a bus outage: on
 * reconnection it judged every node by its last heartbeat from before the outage, and dropped
 * live ones (calls to them 503) until their next beat. Here each node gets a full
 * heartbeatTimeout from our reconnection, and any INFO it sends counts as a sign of life.
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
