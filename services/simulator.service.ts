import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { config } from "../lib/config";
import type { GeoBox } from "../lib/config";
import type { Can, CanInput, GeoPoint, SimulatedCan, SimulatedReport, SimulatorStatus } from "../lib/contracts";
import { CHANNEL } from "../lib/ingest/report";
import { NO_RETRY, retryDelay } from "../lib/retry";
import type { Backoff } from "../lib/retry";
import { CAN_ID_PARAM } from "../lib/fleet/cans";

/**
 * One simulated can. Its true level rises at `fillRate` % per hour from `base` at `since` (its
 * last emptying, or the simulator's start); a report adds a little sensor noise to it.
 */
interface SimCan {
	id: string;
	index: number;
	location: GeoPoint;
	fillRate: number;
	capacityLitres: number;
	wasteKind: string;
	base: number;
	since: number;
	/** Time of its last report (epoch ms). */
	lastAt: number;
	/** Its last reported level (the initial true level before its first report). */
	level: number;
	reports: number;
	reported: boolean;
}

interface SimulatorSettings extends ServiceSettingSchema {
	cans: number;
	intervalMs: number;
	autostart: boolean;
	/** The box the cans stand in (`SIM_AREA`). */
	area: GeoBox;
	/** The slowest and the fastest can, % per hour; the others are spread between. */
	fillRates: [number, number];
	/** A report is off the true level by at most this many points. */
	noise: number;
	/** A can at or above COLLECTED_FROM % waits this long on average for the round that empties it (0: only `collect` empties). */
	collectAfterMs: number;
}

interface SimulatorMethods {
	describe(): SimulatorStatus;
	describeCan(can: SimCan): SimulatedCan;
	findCan(canId: string): SimCan;
	nextReport(can: SimCan): SimulatedReport;
	tick(): Promise<void>;
	startReporting(): void;
	registerCans(): void;
}

interface SimulatorVars {
	cans: SimCan[];
	timer?: NodeJS.Timeout;
	published: number;
	lastReportMs: number;
	/** Registering the cans with trashReport (once, in the background). */
	registration?: Promise<void>;
	/** Aborted on stop: ends a registration under way. */
	stopping: AbortController;
	/** The first tick, while the embedded broker is starting (see the `$broker.started` handler). */
	firstTick?: () => void;
}

const BURST_BATCH = 500;
const HOUR_MS = 3_600_000;
/** Where the collection round starts to come for a can. */
const COLLECTED_FROM = 90;
const WASTE_KINDS = ["mixed", "paper", "plastic", "bio", "glass"];
const CAPACITIES = [240, 660, 1100, 360];
/** trashReport may start after the simulator (another node, a slow store): registration waits for it this way, in the background. */
const REGISTER: Backoff = { retries: 6, delay: 1_000, factor: 2, maxDelay: 15_000 };
const REGISTER_CALL = { timeout: 5_000, ...NO_RETRY };

/** Whether a trashReport runs on any node (Moleculer's typings ask for a node id, which it does not need). */
const trashReportKnown = (broker: ServiceBroker) => broker.registry.hasService("trashReport", undefined as unknown as string);
const frac = (x: number) => x - Math.floor(x);
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
const PHI = (1 + Math.sqrt(5)) / 2;
// the plastic number: its powers give the R2 sequence, the most even 2-D spread of points by index
const PLASTIC = 1.324717957244746;

/** Can `index`'s place in the box: the R2 low-discrepancy sequence, so cans spread evenly and each keeps its place across restarts. */
export function simulatedLocation(index: number, box: GeoBox): GeoPoint {
	// a margin keeps the points off the box's edges
	const inset = (from: number, to: number, t: number) => from + (to - from) * (0.02 + 0.96 * t);
	return {
		lat: round(inset(box.south, box.north, frac(0.5 + index / PLASTIC ** 2)), 6),
		lon: round(inset(box.west, box.east, frac(0.5 + index / PLASTIC)), 6)
	};
}

/** Can `index`'s true fill speed (% per hour): the golden-ratio sequence over [min, max], different for every can. */
export function simulatedFillRate(index: number, [min, max]: [number, number]): number {
	return round(min + (max - min) * frac(0.5 + index * PHI), 4);
}

/**
 * `SIM_CANS` cans that each report on the `trash-level` channel every `SIM_INTERVAL_MS`,
 * in the seed format `{"can_id":"333","level":"30.65"}` — the load generator of the system, and a
 * fleet whose forecasts can be checked: each can stands at its own place in `SIM_AREA` and fills
 * at its own true speed, so the fill rate worked out from the reports should come close to it.
 */
const SimulatorService: ServiceSchema<SimulatorSettings, SimulatorMethods, SimulatorVars> = {
	name: "simulator",
	settings: {
		cans: config.simCans,
		intervalMs: config.simIntervalMs,
		autostart: config.simAutostart,
		area: config.simArea,
		// a can 1½ to 8 hours from empty to full: forecasts of a few hours, a round a day
		fillRates: [10, 60],
		// ±0.1: visible in the reports' two decimals (a burst still moves every level) yet small next
		// to what a can fills between two reports a minute apart, so the fill rate settles fast
		noise: 0.1,
		collectAfterMs: 30 * 60_000
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

		/** Every can: its place, its true fill speed and its last reported level. */
		cans: {
			params: {},
			handler(): SimulatedCan[] {
				return this.cans.map(can => this.describeCan(can));
			}
		},

		/** Empties a can, as a collection round does, and publishes its report at once (its new, low level). */
		collect: {
			params: { canId: CAN_ID_PARAM },
			async handler(ctx: Context<{ canId: string }>): Promise<SimulatedCan> {
				const can = this.findCan(ctx.params.canId);
				this.registerCans();
				can.base = Math.random() * 2;
				can.since = Math.max(Date.now(), this.lastReportMs + 1);
				await this.broker.sendToChannel(CHANNEL, this.nextReport(can));
				this.published++;
				return this.describeCan(can);
			}
		},

		/** Publishes `count` reports as fast as the channel takes them, round-robin over the cans. */
		burst: {
			params: { count: { type: "number", integer: true, min: 1, max: 1_000_000, convert: true } },
			timeout: 0,
			async handler(ctx: Context<{ count: number }>): Promise<{ published: number; ms: number }> {
				this.registerCans();
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

		describeCan(can: SimCan): SimulatedCan {
			return {
				canId: can.id,
				name: `Simulated can ${can.id}`,
				location: can.location,
				capacityLitres: can.capacityLitres,
				wasteKind: can.wasteKind,
				fillRate: can.fillRate,
				// the value of the report's text, exactly
				level: can.reported ? Number(can.level.toFixed(2)) : null
			};
		},

		findCan(canId: string): SimCan {
			const can = this.cans.find(c => c.id === canId);
			if (!can) throw new Errors.MoleculerClientError(`Can '${canId}' is not one of the simulator's.`, 404, "CAN_NOT_FOUND", { canId });
			return can;
		},

		/**
		 * The can's report now: its true level at the report time plus noise. The noise follows the
		 * golden-ratio sequence: it spreads evenly around the truth (so a fill rate fitted over a few
		 * reports comes close) and two reports a few apart differ even within a burst.
		 */
		nextReport(can: SimCan): SimulatedReport {
			// Report times strictly increase, so the newest report of a can is always the last one sent.
			const at = (this.lastReportMs = Math.max(Date.now(), this.lastReportMs + 1));
			const { collectAfterMs, noise } = this.settings;
			const truth = (t: number) => Math.min(100, can.base + (can.fillRate * (t - can.since)) / HOUR_MS);
			// the round comes at a random time, on average collectAfterMs after the can got that full
			if (collectAfterMs > 0 && truth(can.lastAt) >= COLLECTED_FROM && Math.random() < 1 - Math.exp(-(at - can.lastAt) / collectAfterMs)) {
				can.base = Math.random() * 2;
				can.since = at;
			}
			const offset = noise * 2 * (frac(can.index / Math.SQRT2 + can.reports * PHI) - 0.5);
			can.level = Math.min(100, Math.max(0, truth(at) + offset));
			can.lastAt = at;
			can.reports++;
			can.reported = true;
			return { id: randomUUID(), can_id: can.id, level: can.level.toFixed(2), reportedAt: new Date(at).toISOString() };
		},

		async tick() {
			await Promise.all(this.cans.map(can => this.broker.sendToChannel(CHANNEL, this.nextReport(can))));
			this.published += this.cans.length;
		},

		startReporting() {
			if (this.timer) return;
			this.registerCans();
			const tick = () => this.tick().catch(err => this.logger.warn("Publishing reports failed", err.message));
			if (this.broker.transit || this.broker.started) tick();
			else this.firstTick = tick;
			this.timer = setInterval(tick, this.settings.intervalMs);
		},

		/**
		 * Puts the cans into trashReport's registry (name, place, size, waste kind) the first time
		 * they report, in the background: reporting never waits for it, and it gives up quietly when
		 * no trashReport answers. A can registered already is left as it is: an operator's change
		 * over `PUT /cans/:canId` survives a restart of the simulator.
		 */
		registerCans() {
			if (this.registration) return;
			const signal = this.stopping.signal;
			const register = async () => {
				// not there yet (it starts beside this service, or on another node): the backoff waits
				// for it quietly, where a call would log the broker's "not registered" warning
				if (!trashReportKnown(this.broker)) throw new Error("no trashReport is running");
				const known = await this.broker.call<Can[], object>("trashReport.cans", {}, REGISTER_CALL);
				const registered = new Set(known.filter(can => can.registered).map(can => can.canId));
				for (const can of this.cans) {
					if (signal.aborted) return;
					if (registered.has(can.id)) continue;
					const { canId, name, location, capacityLitres, wasteKind } = this.describeCan(can);
					await this.broker.call<Can, CanInput & { canId: string }>("trashReport.putCan", { canId, name, location, capacityLitres, wasteKind }, REGISTER_CALL);
				}
				this.logger.info(`Registered the simulator's cans with trashReport (${this.cans.length - registered.size} new)`);
			};
			this.registration = (async () => {
				for (let attempt = 1; !signal.aborted; attempt++) {
					try {
						return await register();
					} catch (err) {
						if (signal.aborted) return;
						if (attempt > REGISTER.retries) return this.logger.warn(`Simulated cans not registered: ${(err as Error).message}`);
						await sleep(retryDelay(REGISTER, attempt), undefined, { signal }).catch(() => undefined);
					}
				}
			})();
		}
	},

	created() {
		const now = Date.now();
		this.cans = Array.from({ length: this.settings.cans }, (_, index) => {
			const level = Math.random() * 60;
			return {
				id: String(301 + index),
				index,
				location: simulatedLocation(index, this.settings.area),
				fillRate: simulatedFillRate(index, this.settings.fillRates),
				capacityLitres: CAPACITIES[index % CAPACITIES.length],
				wasteKind: WASTE_KINDS[index % WASTE_KINDS.length],
				base: level,
				since: now,
				lastAt: now,
				level,
				reports: 0,
				reported: false
			};
		});
		this.published = 0;
		this.lastReportMs = 0;
		this.stopping = new AbortController();
	},

	events: {
		/**
		 * The embedded bus keeps nothing for a consumer that has not subscribed yet, and trashReport
		 * subscribes once the whole broker has started (the channels middleware's own `started`,
		 * after every service's). So under `npm start` the first reports wait for that, rather than
		 * being lost and showing the cans a whole interval later.
		 */
		"$broker.started"() {
			if (this.firstTick && this.timer) setImmediate(this.firstTick);
			this.firstTick = undefined;
		}
	},

	started() {
		if (this.settings.autostart) this.startReporting();
	},

	stopped() {
		clearInterval(this.timer);
		this.timer = undefined;
		// a registration under way ends at its next step; stopping does not wait for its call
		this.stopping.abort();
	}
};

export default SimulatorService;
