import { Discoverers } from "moleculer";
import type { Registry, ServiceBroker } from "moleculer";

type Node = { id: string; local: boolean; available: boolean };
type LocalBase = new (opts?: object) => {
	opts: { disableHeartbeatChecks?: boolean };
	registry: { nodes: { toArray(): Node[]; get(nodeID: string): Node | undefined; disconnected(nodeID: string, unexpected: boolean): void } };
	broker: ServiceBroker;
	logger: { warn(...args: unknown[]): void };
	localNode: { updateLocalInfo(getCpuUsage: () => Promise<unknown>): Promise<unknown> };
	heartbeatTimer: NodeJS.Timeout | null;
	checkNodesTimer: NodeJS.Timeout | null;
	init(registry: Registry): void;
	startHeartbeatTimers(): void;
	stopHeartbeatTimers(): void;
	sendHeartbeat(): Promise<void>;
	heartbeatReceived(nodeID: string, payload: object): void;
	processRemoteNodeInfo(nodeID: string, payload: object): unknown;
};

/** Timers fire on the event loop's millisecond clock: up to a millisecond before performance.now() says. */
const TIMER_SLACK_MS = 25;

export interface LivenessOptions {
	/** How often this node tells the others it is alive. */
	heartbeatMs: number;
	/** A node not heard from (heartbeat or INFO) for this long has left the registry. */
	timeoutMs: number;
}

/**
 * Moleculer's local discoverer, judging liveness in milliseconds instead of whole seconds of
 * uptime (its heartbeats carry ±500 ms of jitter and are checked every heartbeatTimeout, so a
 * killed node lingered 6–12 s while calls kept going to it):
 *  - beats every `heartbeatMs` exactly (the CPU figure they carry is sampled beside, not before);
 *  - each remote node has a deadline `timeoutMs` after it was last heard from (heartbeat or INFO):
 *    every node that heard its last beat drops it at the same moment, within milliseconds;
 *  - a deadline is judged after the packets waiting on the socket were read (setImmediate), so a
 *    stall of this process's own event loop never drops a node whose beats queued meanwhile;
 *  - while this node's own connection is down nobody is judged, and on reconnection everybody gets
 *    a full timeout (judged by beats from before the outage, live nodes were dropped).
 */
export class LivenessDiscoverer extends (Discoverers.Local as unknown as LocalBase) {
	private readonly lastSeen = new Map<string, number>();
	private readonly deadlines = new Map<string, NodeJS.Timeout>();

	constructor(private readonly liveness: LivenessOptions) {
		super({ heartbeatInterval: liveness.heartbeatMs / 1000, heartbeatTimeout: liveness.timeoutMs / 1000 });
	}

	override startHeartbeatTimers(): void {
		super.startHeartbeatTimers();
		if (!this.heartbeatTimer) return; // heartbeats are off
		clearInterval(this.heartbeatTimer);
		// the stock check every heartbeatTimeout gives way to the deadlines
		clearInterval(this.checkNodesTimer!);
		this.checkNodesTimer = null;
		this.heartbeatTimer = setInterval(() => {
			this.sendHeartbeat().catch(() => undefined);
			void this.localNode.updateLocalInfo(this.broker.getCpuUsage).catch(() => undefined);
		}, this.liveness.heartbeatMs).unref();
		for (const node of this.registry.nodes.toArray()) if (!node.local && node.available) this.seen(node.id);
	}

	override stopHeartbeatTimers(): void {
		super.stopHeartbeatTimers();
		for (const timer of this.deadlines.values()) clearTimeout(timer);
		this.deadlines.clear();
	}

	override heartbeatReceived(nodeID: string, payload: object): void {
		super.heartbeatReceived(nodeID, payload);
		this.seen(nodeID);
	}

	override processRemoteNodeInfo(nodeID: string, payload: object): unknown {
		const result = super.processRemoteNodeInfo(nodeID, payload);
		this.seen(nodeID);
		return result;
	}

	private seen(nodeID: string): void {
		this.lastSeen.set(nodeID, performance.now());
		if (!this.heartbeatTimer || this.opts.disableHeartbeatChecks) return;
		const deadline = this.deadlines.get(nodeID);
		if (deadline) deadline.refresh();
		else this.deadlines.set(nodeID, setTimeout(() => setImmediate(() => this.judge(nodeID)), this.liveness.timeoutMs).unref());
	}

	private judge(nodeID: string): void {
		const silentMs = performance.now() - (this.lastSeen.get(nodeID) ?? 0);
		// heard from meanwhile (and its deadline moved on); a timer may fire a millisecond early
		if (silentMs < this.liveness.timeoutMs - TIMER_SLACK_MS) return;
		clearTimeout(this.deadlines.get(nodeID));
		this.deadlines.delete(nodeID);
		this.lastSeen.delete(nodeID); // a node that comes back is seen afresh; one that never does is forgotten
		const node = this.registry.nodes.get(nodeID);
		if (!node || node.local || !node.available) return;
		this.logger.warn(`No heartbeat from '${nodeID}' for ${Math.round(silentMs)} ms: it has left.`);
		this.registry.nodes.disconnected(nodeID, true);
	}
}
