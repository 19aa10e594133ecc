import type { ServiceBroker } from "moleculer";

export interface IngestStats {
	received: number;
	applied: number;
	duplicates: number;
	rejected: Record<string, number>;
}

/** trashReport's ingest counters summed over every live replica (each counts what it consumed). */
export async function ingestStats(broker: ServiceBroker): Promise<IngestStats> {
	const nodes = broker.registry.getServiceList({ onlyAvailable: true }).filter(s => s.name === "trashReport").map(s => s.nodeID);
	const all = await Promise.all(nodes.map(nodeID => broker.call<IngestStats, object>("trashReport.stats", {}, { nodeID })));
	const total: IngestStats = { received: 0, applied: 0, duplicates: 0, rejected: {} };
	for (const s of all) {
		total.received += s.received;
		total.applied += s.applied;
		total.duplicates += s.duplicates;
		for (const [field, n] of Object.entries(s.rejected)) total.rejected[field] = (total.rejected[field] ?? 0) + n;
	}
	return total;
}
