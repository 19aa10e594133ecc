import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { ALL_SERVICES } from "../lib/config";
import type { Worker, WorkerEvent } from "../lib/contracts";

interface SystemManagerMethods {
	refresh(): void;
	scheduleRefresh(): void;
	flushRefresh(): void;
}

interface SystemManagerVars {
	workers: Map<string, Set<string>>;
	refreshTimer?: NodeJS.Timeout;
}

const WORKERS_GAUGE = "microservices_workers_total";
const CONNECTED_GAUGE = "microservices_connected_workers";

/**
 * The registry of live workers, derived from the broker's own discovery (no hand-rolled
 * heartbeats): which service types run where, announced as `worker.new` / `worker.del`.
 */
const SystemManagerService: ServiceSchema<ServiceSettingSchema, SystemManagerMethods, SystemManagerVars> = {
	name: "systemManager",
	actions: {
		/** Every live worker type with its nodes, sorted by type. */
		workers: {
			params: {},
			openapi: { summary: "Every live worker type (service name) with its nodes, sorted by type", response: "Workers" },
			handler(): Worker[] {
				this.flushRefresh();
				return [...this.workers]
					.map(([type, nodes]) => ({ type, nodes: [...nodes].sort(), instances: nodes.size }))
					.sort((a, b) => a.type.localeCompare(b.type));
			}
		},

		/** Whether at least one live worker of `type` exists. */
		has: {
			params: { type: { type: "string", min: 1, max: 100 } },
			handler(ctx: Context<{ type: string }>): boolean {
				this.flushRefresh();
				return (this.workers.get(ctx.params.type)?.size ?? 0) > 0;
			}
		}
	},

	events: {
		"$services.changed"() {
			this.scheduleRefresh();
		},
		"$node.connected"() {
			this.scheduleRefresh();
		},
		"$node.disconnected"() {
			this.scheduleRefresh();
		}
	},

	methods: {
		// A node joining fires several discovery events at once; one refresh covers them all.
		scheduleRefresh() {
			if (this.refreshTimer) return;
			this.refreshTimer = setTimeout(() => {
				this.refreshTimer = undefined;
				this.refresh();
			}, 20);
		},

		// A question asked right after a change must not get the registry of 20 ms ago.
		flushRefresh() {
			if (!this.refreshTimer) return;
			clearTimeout(this.refreshTimer);
			this.refreshTimer = undefined;
			this.refresh();
		},

		/** Rebuilds the registry from the broker's and announces what appeared or vanished. */
		refresh() {
			const next = new Map<string, Set<string>>();
			for (const svc of this.broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true })) {
				// Channel adapters register helper services ("$channel:…"); they are not workers.
				if (svc.name.startsWith("$") || svc.nodeID == null) continue;
				if (!next.has(svc.name)) next.set(svc.name, new Set());
				next.get(svc.name)!.add(svc.nodeID);
			}
			const announce = (event: "worker.new" | "worker.del", from: Map<string, Set<string>>, to: Map<string, Set<string>>) => {
				for (const [type, nodes] of from)
					for (const nodeID of nodes) if (!to.get(type)?.has(nodeID)) this.broker.broadcast(event, { type, nodeID } satisfies WorkerEvent);
			};
			announce("worker.new", next, this.workers);
			announce("worker.del", this.workers, next);

			if (this.broker.isMetricsEnabled()) {
				for (const type of new Set([...this.workers.keys(), ...next.keys()])) this.broker.metrics.set(WORKERS_GAUGE, next.get(type)?.size ?? 0, { type });
				this.broker.metrics.set(CONNECTED_GAUGE, new Set([...next.values()].flatMap(nodes => [...nodes])).size);
			}
			this.workers = next;
		}
	},

	created() {
		this.workers = new Map();
		if (this.broker.isMetricsEnabled()) {
			this.broker.metrics.register({ type: "gauge", name: WORKERS_GAUGE, labelNames: ["type"], description: "Live workers by type" });
			this.broker.metrics.register({ type: "gauge", name: CONNECTED_GAUGE, description: "Live nodes running at least one worker" });
			// the worker types are known up front: 0 until discovery says otherwise, never "no data"
			for (const type of ALL_SERVICES) this.broker.metrics.set(WORKERS_GAUGE, 0, { type });
		}
	},

	started() {
		this.refresh();
	},

	stopped() {
		clearTimeout(this.refreshTimer);
	}
};

export default SystemManagerService;
