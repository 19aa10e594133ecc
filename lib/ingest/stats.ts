import type { MetricRegistry, ServiceBroker } from "moleculer";
import type { CanLevel, IngestStats } from "../contracts";
import { REJECTION_REASONS } from "./report";
import type { RejectionReason } from "./report";

/** What happened to reports, as Prometheus metrics (summed over replicas by the dashboards). */
export const REPORT_METRICS = {
	received: "trash_reports_received_total",
	applied: "trash_reports_applied_total",
	duplicates: "trash_reports_duplicate_total",
	rejected: "trash_reports_rejected_total",
	level: "trash_can_level",
	fullCans: "trash_full_cans",
	fillRate: "trash_can_fill_rate",
	secondsToFull: "trash_can_seconds_to_full",
	batchSize: "trash_ingest_batch_reports"
} as const;

type Outcome = "received" | "applied" | "duplicates";

/**
 * One trashReport process's ingest counters, kept for `trashReport.stats` and, when metrics are on,
 * as Prometheus metrics. Every series starts at 0, so a dashboard shows 0 rather than "no data"
 * before the first report (and `increase()` sees the first rejection after a restart).
 */
export class IngestCounters {
	private readonly stats: IngestStats = { received: 0, applied: 0, duplicates: 0, rejected: {}, batches: 0, batched: 0 };

	constructor(private readonly metrics: MetricRegistry | null) {
		if (!metrics) return;
		metrics.register({ type: "counter", name: REPORT_METRICS.received, description: "Report deliveries taken from the bus (redeliveries too)" });
		metrics.register({ type: "counter", name: REPORT_METRICS.applied, description: "Reports applied for the first time" });
		metrics.register({ type: "counter", name: REPORT_METRICS.duplicates, description: "Redelivered reports that were applied before (no effect)" });
		metrics.register({
			type: "counter",
			name: REPORT_METRICS.rejected,
			labelNames: ["reason"],
			description: "Reports rejected, by the field that failed or bus_unavailable"
		});
		metrics.register({ type: "gauge", name: REPORT_METRICS.level, labelNames: ["can_id"], description: "Latest fill level of each can (%)" });
		metrics.register({ type: "gauge", name: REPORT_METRICS.fullCans, description: "Cans at or above their full threshold (their own, or FULL_THRESHOLD)" });
		metrics.register({
			type: "gauge",
			name: REPORT_METRICS.fillRate,
			labelNames: ["can_id"],
			description: "How fast each can fills (% per hour, since its last emptying)"
		});
		metrics.register({
			type: "gauge",
			name: REPORT_METRICS.secondsToFull,
			labelNames: ["can_id"],
			description: "Seconds until each can reaches its threshold at its fill rate (0 once full, NaN when not filling)"
		});
		metrics.register({
			type: "histogram",
			name: REPORT_METRICS.batchSize,
			description: "Reports per batch written to the store (a burst should make few, large batches)",
			buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256]
		});
		for (const what of ["received", "applied", "duplicates"] as const) metrics.increment(REPORT_METRICS[what], undefined, 0);
		for (const reason of REJECTION_REASONS) metrics.increment(REPORT_METRICS.rejected, { reason }, 0);
		metrics.set(REPORT_METRICS.fullCans, 0);
	}

	count(what: Outcome): void {
		this.stats[what]++;
		this.metrics?.increment(REPORT_METRICS[what]);
	}

	/** One batch of `size` reports goes to the store. */
	countBatch(size: number): void {
		this.stats.batches++;
		this.stats.batched += size;
		this.metrics?.observe(REPORT_METRICS.batchSize, size);
	}

	countRejected(reason: RejectionReason): void {
		this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
		this.metrics?.increment(REPORT_METRICS.rejected, { reason });
	}

	/** The level, forecast and full-cans gauges, from every can's latest level and forecast. */
	setLevels(levels: readonly CanLevel[], nowMs = Date.now()): void {
		if (!this.metrics) return;
		for (const { canId, level, fillRate, fullAt } of levels) {
			const labels = { can_id: canId };
			this.metrics.set(REPORT_METRICS.level, level, labels);
			this.metrics.set(REPORT_METRICS.fillRate, fillRate ?? 0, labels);
			this.metrics.set(REPORT_METRICS.secondsToFull, fullAt == null ? NaN : Math.max(0, Math.round((Date.parse(fullAt) - nowMs) / 1000)), labels);
		}
		this.metrics.set(REPORT_METRICS.fullCans, levels.filter(l => l.state === "full" || l.state === "overfull").length);
	}

	/** A copy: local callers of `trashReport.stats` get no live reference. */
	snapshot(): IngestStats {
		return structuredClone(this.stats);
	}
}

/** trashReport's ingest counters summed over every live replica (each counts what it consumed). */
export async function ingestStats(broker: ServiceBroker): Promise<IngestStats> {
	const nodes = broker.registry
		.getServiceList({ onlyAvailable: true })
		.filter(s => s.name === "trashReport")
		.map(s => s.nodeID);
	const all = await Promise.all(nodes.map(nodeID => broker.call<IngestStats, object>("trashReport.stats", {}, { nodeID })));
	const total: IngestStats = { received: 0, applied: 0, duplicates: 0, rejected: {}, batches: 0, batched: 0 };
	for (const s of all) {
		for (const key of ["received", "applied", "duplicates", "batches", "batched"] as const) total[key] += s[key];
		for (const [field, n] of Object.entries(s.rejected)) total.rejected[field] = (total.rejected[field] ?? 0) + n;
	}
	return total;
}
