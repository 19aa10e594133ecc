/**
 * What a can's recent reports say about it: its emptyings (a drop of more than `EMPTIED_DROP`
 * points), the current fill cycle, how fast it fills and when it will be full. Pure functions of
 * the points, in whatever order and however often they were delivered: the points are put in
 * time order and a report counts once (by id), so redeliveries and late reports land where
 * they belong instead of moving the estimate.
 */
import type { CanState, LevelPoint } from "../contracts";

export interface Point {
	/** The report's id: the same report delivered twice is one point. */
	id: string;
	level: number;
	/** Report time, epoch ms. */
	at: number;
}

export interface Emptying {
	/** The last report before the drop: its time, its id. */
	from: number;
	fromId: string;
	/** The first report after the drop. */
	at: number;
	atId: string;
	levelBefore: number;
	levelAfter: number;
}

const HOUR_MS = 3_600_000;
/** Below this the can counts as empty. */
export const EMPTY_BELOW = 5;
/** Slower than this (% per hour) is not filling: no forecast. */
const MIN_RATE = 0.01;

/** The points in time order (ties by id), each report once. */
export function timeline(points: readonly Point[]): Point[] {
	const seen = new Set<string>();
	return points.filter(p => !seen.has(p.id) && seen.add(p.id)).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Every drop of more than `drop` points between two consecutive reports of a timeline. */
export function emptyings(sorted: readonly Point[], drop: number): Emptying[] {
	const found: Emptying[] = [];
	for (let i = 1; i < sorted.length; i++)
		if (sorted[i - 1].level - sorted[i].level > drop)
			found.push({
				from: sorted[i - 1].at,
				fromId: sorted[i - 1].id,
				at: sorted[i].at,
				atId: sorted[i].id,
				levelBefore: sorted[i - 1].level,
				levelAfter: sorted[i].level
			});
	return found;
}

/** A timeline cut into its fill cycles: before the first drop, then from each drop's report on. */
export function cycles(sorted: readonly Point[], drops: readonly Emptying[]): Point[][] {
	const cut = [-Infinity, ...drops.map(d => d.at), Infinity];
	return cut.slice(1).map((end, i) => sorted.filter(p => p.at >= cut[i] && p.at < end));
}

/**
 * The `k`-th smallest of `values` (from 0), rearranged so that every value before it is no
 * larger: Hoare's selection, linear on average. A batch takes two medians per touched can, the
 * first of up to 780 slopes, and sorting them was 4 % of a consumer's CPU; this is 3.5 × faster.
 */
function select(values: Float64Array, k: number): number {
	let lo = 0;
	let hi = values.length - 1;
	while (hi > lo) {
		const pivot = values[(lo + hi) >> 1];
		let i = lo;
		let j = hi;
		while (i <= j) {
			while (values[i] < pivot) i++;
			while (values[j] > pivot) j--;
			if (i <= j) {
				const t = values[i];
				values[i++] = values[j];
				values[j--] = t;
			}
		}
		// [lo, j] ≤ pivot ≤ [i, hi], and what lies between equals the pivot
		if (k <= j) hi = j;
		else if (k >= i) lo = i;
		else return values[k];
	}
	return values[k];
}

/** The median of `values` (rearranging them). */
export function median(values: Float64Array): number {
	const mid = values.length >> 1;
	const upper = select(values, mid);
	if (values.length % 2) return upper;
	// the lower middle is the largest of the values before it
	let lower = -Infinity;
	for (let i = 0; i < mid; i++) if (values[i] > lower) lower = values[i];
	return (lower + upper) / 2;
}

export interface Trend {
	/** % per hour. */
	rate: number;
	/** The trend line's level at the cycle's last report (less noisy than that report's level). */
	level: number;
	/** The cycle's last report time, epoch ms. */
	at: number;
}

/**
 * The fill trend of a cycle (in time order): Theil–Sen, the median of the slopes between every
 * two reports, and the median intercept. Up to 29 % of the reports can be wild without moving it,
 * unlike a least-squares fit. Null with fewer than two report times.
 */
export function trend(cycle: readonly Point[]): Trend | null {
	const slopes = scratch((cycle.length * (cycle.length - 1)) / 2);
	let n = 0;
	for (let i = 0; i < cycle.length; i++)
		for (let j = i + 1; j < cycle.length; j++)
			if (cycle[j].at !== cycle[i].at) slopes[n++] = ((cycle[j].level - cycle[i].level) / (cycle[j].at - cycle[i].at)) * HOUR_MS;
	if (n === 0) return null;
	const rate = median(slopes.subarray(0, n));
	const last = cycle[cycle.length - 1].at;
	const intercepts = scratch(cycle.length).subarray(0, cycle.length);
	for (let i = 0; i < cycle.length; i++) intercepts[i] = cycle[i].level - (rate * (cycle[i].at - last)) / HOUR_MS;
	return { rate, level: median(intercepts), at: last };
}

let buffer = new Float64Array(1_024);
/**
 * A shared array of at least `size` numbers for `trend`'s medians, which are done with it before
 * they return: an ingest batch works out hundreds of trends, and a fresh array each (off the
 * JavaScript heap, freed by the garbage collector) was a cost of its own.
 */
function scratch(size: number): Float64Array {
	if (buffer.length < size) buffer = new Float64Array(size);
	return buffer;
}

/** When the trend reaches `threshold` (epoch ms; at its last report if the line is already there), or null when not filling. */
export function fullAt(t: Trend | null, threshold: number): number | null {
	if (!t || t.rate < MIN_RATE) return null;
	return t.at + (Math.max(0, threshold - t.level) / t.rate) * HOUR_MS;
}

/** When a cycle first reached `threshold` (its first report at or above it), or null. */
export function fullSince(cycle: readonly Point[], threshold: number): number | null {
	return cycle.find(p => p.level >= threshold)?.at ?? null;
}

/** `overfull` at 100 % or when full for longer than `overfullAfterMs`. */
export function canState(level: number, threshold: number, fullSinceMs: number | null, nowMs: number, overfullAfterMs: number): CanState {
	if (level >= 100) return "overfull";
	if (level >= threshold) return fullSinceMs != null && nowMs - fullSinceMs > overfullAfterMs ? "overfull" : "full";
	return level < EMPTY_BELOW ? "empty" : "normal";
}

/**
 * The last point of each `stepMs` bucket (buckets aligned to the epoch), in time order.
 * `points` must be in time order.
 */
export function downsample(points: readonly LevelPoint[], stepMs: number): LevelPoint[] {
	const out: LevelPoint[] = [];
	let bucket = NaN;
	for (const p of points) {
		const b = Math.floor(Date.parse(p.reportedAt) / stepMs);
		if (b === bucket) out[out.length - 1] = p;
		else out.push(p);
		bucket = b;
	}
	return out;
}
