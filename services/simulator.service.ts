import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { config } from "../lib/config";
import type { SimulatedReport, SimulatorStatus } from "../lib/contracts";
import { CHANNEL } from "../lib/ingest/report";

/** One simulated can. Its fill level rises with every report and drops when collected. */
interface Can {
	id: string;
	level: number;
}

interface SimulatorSettings extends ServiceSettingSchema {
	cans: number;
	intervalMs: number;
	autostart: boolean;
}

interface SimulatorMethods {
	describe(): SimulatorStatus;
	nextReport(can: Can): SimulatedReport;
	tick(): Promise<void>;
	startReporting(): void;
}

interface SimulatorVars {
	cans: Can[];
	timer?: NodeJS.Timeout;
	published: number;
	lastReportMs: number;
}

const BURST_BATCH = 500;

/**
 * `SIM_CANS` cans that each report on the `trash-level` channel every `SIM_INTERVAL_MS`,
 * in the seed format `{"can_id":"333","level":"30.65"}` — the load generator of the system.
 */
const SimulatorService: ServiceSchema<SimulatorSettings, SimulatorMethods, SimulatorVars> = {
	name: "simulator",
	settings: {
		cans: config.simCans,
		intervalMs: config.simIntervalMs,
		autostart: config.simAutostart
	},
	actions: {
		/** Starts periodic reporting (no-op when running). */
		start: {
			params: {},
			handler(): SimulatorStatus {
				this.startReporting();
				return this.describe();
			}
		},

		/** Stops periodic reporting. */
		stop: {
			params: {},
			handler(): SimulatorStatus {
				clearInterval(this.timer);
				this.timer = undefined;
				return this.describe();
			}
		},

		/** Whether it runs, how many cans, and how many reports it has published. */
		status: {
			params: {},
			handler(): SimulatorStatus {
				return this.describe();
			}
		},

		/** Publishes `count` reports as fast as the channel takes them, round-robin over the cans. */
		burst: {
			params: { count: { type: "number", integer: true, min: 1, max: 1_000_000, convert: true } },
			timeout: 0,
			async handler(ctx: Context<{ count: number }>): Promise<{ published: number; ms: number }> {
				const started = performance.now();
				for (let sent = 0; sent < ctx.params.count;) {
					const batch: Promise<unknown>[] = [];
					for (; batch.length < BURST_BATCH && sent < ctx.params.count; sent++) {
						batch.push(this.broker.sendToChannel(CHANNEL, this.nextReport(this.cans[sent % this.cans.length])));
					}
					await Promise.all(batch);
					this.published += batch.length;
				}
				return { published: ctx.params.count, ms: Math.round(performance.now() - started) };
			}
		}
	},

	methods: {
		describe(): SimulatorStatus {
			return { running: this.timer != null, cans: this.cans.length, intervalMs: this.settings.intervalMs, published: this.published };
		},

		/** Advances a can by one step and returns its report. */
		nextReport(can: Can): SimulatedReport {
			if (can.level >= 85 && Math.random() < 0.3) can.level = Math.random() * 5;
			else can.level = Math.min(100, can.level + Math.random() * 4);
			// Report times strictly increase, so the newest report of a can is always the last one sent.
			this.lastReportMs = Math.max(Date.now(), this.lastReportMs + 1);
			return { id: randomUUID(), can_id: can.id, level: can.level.toFixed(2), reportedAt: new Date(this.lastReportMs).toISOString() };
		},

		async tick() {
			await Promise.all(this.cans.map(can => this.broker.sendToChannel(CHANNEL, this.nextReport(can))));
			this.published += this.cans.length;
		},

		startReporting() {
			if (this.timer) return;
			const tick = () => this.tick().catch(err => this.logger.warn("Publishing reports failed", err.message));
			tick();
			this.timer = setInterval(tick, this.settings.intervalMs);
		}
	},

	created() {
		this.cans = Array.from({ length: this.settings.cans }, (_, i) => ({ id: String(301 + i), level: Math.random() * 60 }));
		this.published = 0;
		this.lastReportMs = 0;
	},

	started() {
		if (this.settings.autostart) this.startReporting();
	},

	stopped() {
		clearInterval(this.timer);
		this.timer = undefined;
	}
};

export default SimulatorService;
