import { METRIC, MetricReporters, MetricTypes } from "moleculer";

/**
 * Moleculer's metric types with the same names, labels and Prometheus output, at a fraction of
 * the cost per observation. Every local action runs Moleculer's metrics middleware (three counter
 * or gauge updates and a histogram timer) and our job metrics (a counter and a histogram), so an
 * HTTP request makes about fifteen metric updates. What Moleculer does per update that is cut here:
 *  - the label hash: a loop of megamorphic `labels[name]` reads into an array that is joined;
 *    here one function per metric, compiled from its label names, builds the same string;
 *  - a histogram's buckets: every bucket at or above the value is incremented through an object
 *    keyed by the bound (a number-to-string conversion per bucket for bounds like 0.005); here one
 *    count per bucket index, made cumulative when a snapshot is taken;
 *  - a histogram's quantiles: every sample of the last minute is kept and all of them are sorted
 *    at each scrape (at 10 000 requests/s, millions of samples: tens of MB and a stall per scrape);
 *    here each 6-second slice of the window keeps exact count, sum, min and max, a running mean and
 *    sum of squared deviations (Welford: no cancellation when values are close)
 *    and a uniform sample of at most RESERVOIR values, so min, max, mean and variance stay exact
 *    and the quantiles are estimated from at most ten reservoirs, weighted by what each stands for.
 * `useLeanMetricTypes()` registers them under Moleculer's own type names, so every metric of the
 * process (the broker's and ours) uses them.
 */

type Labels = Record<string, unknown> | null | undefined;
type Hash = (labels: Labels) => string;

/** The same string as Moleculer's BaseMetric.hashingLabels, from code specialised to the label names. */
export function compileLabelHash(labelNames: readonly string[]): Hash {
	if (labelNames.length === 0) return () => "";
	const part = (name: string) =>
		`((v = l[${JSON.stringify(name)}]), typeof v === "number" ? "" + v : typeof v === "string" ? '"' + v + '"' : typeof v === "boolean" ? "" + v : "")`;
	// built once per metric from its label names, which come from code, never from input
	return new Function("l", `if (l == null || typeof l !== "object") return ""; let v; return ${labelNames.map(part).join(' + "|" + ')};`) as Hash;
}

/** Label combinations whose key one metric remembers; beyond them, keys are built per update. */
export const KEYS_REMEMBERED = 10_000;

/**
 * compileLabelHash's key, remembered per combination of label values: the labels' values lead
 * through one Map per label name to the key built the first time. Label values are the same few
 * strings on every call (service, action and caller names), whose hashes V8 keeps, so a lookup
 * costs a few Map reads instead of building a new string and hashing it for the `values` Map;
 * and the key it returns is the same string each time, which that Map compares by reference.
 */
export function compileLabelKey(labelNames: readonly string[], remembered = KEYS_REMEMBERED): Hash {
	const hash = compileLabelHash(labelNames);
	if (labelNames.length === 0) return hash;
	type Level = Map<unknown, Level | string>;
	const root: Level = new Map();
	let keys = 0;
	// values the hash writes the same way share a path: null, undefined and objects all write ""
	const scalar = (v: unknown) => (typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : undefined);
	const miss = (l: Record<string, unknown>): string => {
		const key = hash(l);
		if (keys >= remembered) return key;
		let level = root;
		labelNames.forEach((name, i) => {
			const v = scalar(l[name]);
			if (i === labelNames.length - 1) level.set(v, key);
			else {
				let next = level.get(v) as Level | undefined;
				if (!next) level.set(v, (next = new Map()));
				level = next;
			}
		});
		keys++;
		return key;
	};
	const step = (name: string) =>
		`v = l[${JSON.stringify(name)}]; m = m.get(typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : undefined); if (m === undefined) return miss(l);`;
	// built once per metric from its label names, which come from code, never from input
	return new Function(
		"root",
		"miss",
		`return function key(l) { if (l == null || typeof l !== "object") return ""; let v, m = root; ${labelNames.map(step).join(" ")} return m; };`
	)(root, miss) as Hash;
}

/** Values kept per window slice for the quantile reservoirs. */
export const RESERVOIR = 256;
const sortAscending = (a: number, b: number) => a - b;

/** One slice of the window: exact aggregates and a uniform sample (Vitter's algorithm R). */
class Slice {
	count = 0;
	sum = 0;
	mean = 0;
	/** Sum of squared deviations from `mean`. */
	m2 = 0;
	min = Infinity;
	max = -Infinity;
	readonly sample: number[] = [];

	add(value: number) {
		this.count++;
		this.sum += value;
		const delta = value - this.mean;
		this.mean += delta / this.count;
		this.m2 += delta * (value - this.mean);
		if (value < this.min) this.min = value;
		if (value > this.max) this.max = value;
		if (this.sample.length < RESERVOIR) this.sample.push(value);
		else {
			const slot = Math.floor(Math.random() * this.count);
			if (slot < RESERVOIR) this.sample[slot] = value;
		}
	}

	clear() {
		this.count = this.sum = this.mean = this.m2 = 0;
		this.min = Infinity;
		this.max = -Infinity;
		this.sample.length = 0;
	}
}

export interface WindowSnapshot {
	min: number | null;
	mean: number | null;
	variance: number | null;
	stdDev: number | null;
	max: number | null;
	quantiles: Record<string, number | undefined>;
}

/** The last `maxAgeSeconds` of observations in `slices` slices, as Moleculer's TimeWindowQuantiles, in bounded memory. */
export class WindowQuantiles {
	private readonly slices: Slice[];
	private current = 0;
	private timer: NodeJS.Timeout;
	private last: WindowSnapshot | null = null;

	constructor(
		private readonly quantiles: number[],
		maxAgeSeconds: number,
		slices: number,
		private readonly onChange: () => void
	) {
		this.slices = Array.from({ length: slices }, () => new Slice());
		this.timer = setInterval(() => this.rotate(), (maxAgeSeconds / slices) * 1000).unref();
	}

	private rotate() {
		this.current = (this.current + 1) % this.slices.length;
		this.slices[this.current].clear();
		this.last = null;
		this.onChange();
	}

	add(value: number) {
		this.slices[this.current].add(value);
		this.last = null;
	}

	stop() {
		clearInterval(this.timer);
	}

	snapshot(): WindowSnapshot {
		if (this.last) return this.last;
		let count = 0;
		let sum = 0;
		// slices merged as Chan et al.'s parallel variance
		let runningMean = 0;
		let m2 = 0;
		let min = Infinity;
		let max = -Infinity;
		const weighted: [number, number][] = [];
		for (const s of this.slices) {
			if (s.count === 0) continue;
			const delta = s.mean - runningMean;
			const merged = count + s.count;
			m2 += s.m2 + (delta * delta * count * s.count) / merged;
			runningMean += (delta * s.count) / merged;
			count = merged;
			sum += s.sum;
			min = Math.min(min, s.min);
			max = Math.max(max, s.max);
			const weight = s.count / s.sample.length;
			for (const v of s.sample) weighted.push([v, weight]);
		}
		weighted.sort((a, b) => sortAscending(a[0], b[0]));
		const mean = count ? sum / count : null;
		const variance = count > 1 ? m2 / (count - 1) : null;
		const quantiles: Record<string, number | undefined> = {};
		for (const q of this.quantiles) {
			// the smallest sampled value with at least q of the weight at or below it, as Moleculer's samples[ceil(q·n) − 1]
			let seen = 0;
			quantiles[q] = weighted.find(([, w]) => (seen += w) >= q * count - 1e-9)?.[0] ?? weighted.at(-1)?.[0];
		}
		return (this.last = {
			min: count ? min : null,
			mean,
			variance,
			stdDev: variance ? Math.sqrt(variance) : null,
			max: count ? max : null,
			quantiles
		});
	}
}

interface HistogramItem {
	labels: Record<string, unknown>;
	timestamp: number;
	sum: number;
	count: number;
	lastValue: number | null;
	/** Observations per bucket index (not cumulative); the last slot counts those above every bound. */
	bucketCounts?: number[];
	quantileValues?: WindowQuantiles;
	rate?: { rate: number; update(count: number): void };
}

interface GaugeItem {
	value: number;
	timestamp: number;
	rate?: { update(value: number): void };
}

type Registry = { dirty: boolean; reporter?: unknown[]; changed(...args: unknown[]): void };
/**
 * Whether a reporter of the registry handles single updates (`metricChanged`): Moleculer calls
 * each reporter's for every update, through a closure made per update; the Prometheus reporter's
 * does nothing (it reads the metrics when scraped).
 */
function listensToChanges(registry: Registry): boolean {
	const ignored = MetricReporters.Base.prototype.metricChanged;
	return Array.isArray(registry.reporter) && registry.reporter.some(r => (r as { metricChanged?: unknown }).metricChanged !== ignored);
}

/**
 * The metric's and the registry's dirty flags, as Moleculer's `changed`; the reporters only when
 * one listens (looked up once per metric: the registry makes its reporters before any metric).
 */
function changed(metric: { dirty: boolean; registry: unknown; listened: boolean | null }, value: unknown, labels: Labels, timestamp?: number) {
	const registry = metric.registry as Registry;
	metric.dirty = true;
	if ((metric.listened ??= listensToChanges(registry))) registry.changed(metric, value, labels, timestamp);
	else registry.dirty = true;
}

/** increment/decrement hash the labels once (Moleculer's hash them for `get` and again for `set`). */
export class LeanGauge extends MetricTypes.Gauge {
	declare values: Map<string, GaugeItem>;
	// fields of every instance from the start: a property added later would change the object's
	// shape and slow down every function that reads metrics (measured: +50 % per call pair)
	readonly key: Hash = compileLabelKey(this.labelNames);
	listened: boolean | null = null;

	override hashingLabels(labels: Labels) {
		return this.key(labels);
	}

	override increment(labels?: Labels, value = 1, timestamp?: number) {
		return this.add(labels, value, timestamp);
	}

	override decrement(labels?: Labels, value = 1, timestamp?: number) {
		return this.add(labels, -value, timestamp);
	}

	private add(labels: Labels, delta: number, timestamp?: number) {
		const item = this.values.get(this.key(labels));
		// a new series: Moleculer's own path makes the item (and its rate)
		if (!item) return this.set(delta, labels ?? undefined, timestamp);
		if (delta !== 0) {
			item.value += delta;
			item.timestamp = timestamp ?? Date.now();
			item.rate?.update(item.value);
			changed(this, item.value, labels, timestamp);
		}
		return item;
	}
}

export class LeanCounter extends LeanGauge {
	constructor(...args: ConstructorParameters<typeof MetricTypes.Gauge>) {
		super(...args);
		this.type = METRIC.TYPE_COUNTER;
	}

	override decrement(): never {
		throw new Error("Counter can't be decreased.");
	}
}

export class LeanHistogram extends MetricTypes.Histogram {
	declare values: Map<string, HistogramItem>;
	declare rate?: boolean;
	readonly key: Hash = compileLabelKey(this.labelNames);
	listened: boolean | null = null;

	override hashingLabels(labels: Labels) {
		return this.key(labels);
	}

	override observe(value: number, labels?: Labels, timestamp?: number) {
		const item = this.values.get(this.key(labels));
		// a new series: Moleculer's own path makes the item (and its rate), through resetItem below
		if (!item) {
			super.observe(value, labels ?? undefined, timestamp);
			this.countBucket(this.values.get(this.key(labels))!, value);
			return;
		}
		item.timestamp = timestamp ?? Date.now();
		item.sum += value;
		item.count++;
		item.lastValue = value;
		this.countBucket(item, value);
		item.quantileValues?.add(value);
		item.rate?.update(item.count);
		changed(this, value, labels, timestamp);
	}

	private countBucket(item: HistogramItem, value: number) {
		const bounds = this.buckets;
		if (!bounds || !item.bucketCounts) return;
		let i = 0;
		// NaN is in no bucket, as in Moleculer's
		while (i < bounds.length && !(value <= bounds[i])) i++;
		item.bucketCounts[i]++;
	}

	override resetItem(item: Record<string, unknown>, timestamp?: number | null) {
		const it = item as unknown as HistogramItem;
		it.timestamp = timestamp ?? Date.now();
		it.sum = 0;
		it.count = 0;
		it.lastValue = null;
		if (this.buckets) it.bucketCounts = new Array<number>(this.buckets.length + 1).fill(0);
		if (this.quantiles) {
			it.quantileValues?.stop();
			it.quantileValues = new WindowQuantiles(this.quantiles, this.maxAgeSeconds ?? 60, this.ageBuckets ?? 10, () => this.setDirty());
		}
		return item;
	}

	override generateItemSnapshot(item: Record<string, unknown>, key: string) {
		const it = item as unknown as HistogramItem;
		const snapshot: ReturnType<InstanceType<typeof MetricTypes.Histogram>["generateItemSnapshot"]> & Record<string, unknown> = {
			key,
			labels: it.labels,
			count: it.count,
			sum: it.sum,
			lastValue: it.lastValue,
			timestamp: it.timestamp
		};
		if (this.buckets && it.bucketCounts) {
			const buckets: Record<string, number> = {};
			let atOrBelow = 0;
			this.buckets.forEach((bound, i) => (buckets[bound] = atOrBelow += it.bucketCounts![i]));
			snapshot.buckets = buckets;
		}
		if (it.quantileValues) Object.assign(snapshot, it.quantileValues.snapshot());
		if (it.rate) snapshot.rate = it.rate.rate;
		return snapshot;
	}
}

let registered = false;
/** Registers the lean types under Moleculer's names (once per process; every broker after it uses them). */
export function useLeanMetricTypes(): void {
	if (registered) return;
	registered = true;
	MetricTypes.register("Gauge", LeanGauge as never);
	MetricTypes.register("Counter", LeanCounter as never);
	MetricTypes.register("Histogram", LeanHistogram as never);
}
