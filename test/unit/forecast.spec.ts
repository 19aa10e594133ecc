/**
 * How a can's reports become its fill rate, its time to full, its emptyings and its state:
 * accurate on noisy sensors, and unmoved by reports that arrive late or twice.
 */
import { canState, cycles, downsample, emptyings, fullAt, fullSince, median, timeline, trend } from "../../lib/fleet/forecast";
import type { Point } from "../../lib/fleet/forecast";
import { seededRandom } from "../support/random";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1, 6);

/** A sensor's noise: normal, σ = `sigma` points (Box–Muller). */
const gaussian = (random: () => number, sigma: number) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()) * sigma;

/** `count` reports every `everyMs` of a can filling at `rate` %/h from `start` %, with noise. */
function filling(
	random: () => number,
	{ rate, start, count, everyMs, sigma }: { rate: number; start: number; count: number; everyMs: number; sigma: number }
): Point[] {
	return Array.from({ length: count }, (_, i) => ({
		id: `r${i}`,
		at: START + i * everyMs,
		level: start + (rate * i * everyMs) / HOUR + gaussian(random, sigma)
	}));
}

describe("fill rate and time to full on a noisy sensor (σ = 0.3 points)", () => {
	const random = seededRandom(19);
	// 8–20 % an hour: a can that is 40 % full is full within 2–5 h
	const cans = Array.from({ length: 200 }, () => ({ rate: 8 + random() * 12, start: 5 + random() * 20 }));

	it("is within 10 % of the true rate after 5 reports, half an hour apart", () => {
		for (const can of cans) {
			const t = trend(filling(random, { ...can, count: 5, everyMs: HOUR / 2, sigma: 0.3 }))!;
			expect(Math.abs(t.rate - can.rate) / can.rate).toBeLessThan(0.1);
		}
	});

	it("puts a can 4 h from full within 10 minutes of when it is full, after three hours of reports every 15 minutes", () => {
		for (const { rate } of cans) {
			const threshold = 80;
			const count = 13; // 0 … 3 h
			const lastAt = START + 3 * HOUR;
			// chosen so that the can is exactly 4 h from its threshold at its last report
			const start = threshold - rate * 7;
			const truth = lastAt + 4 * HOUR;
			const forecast = fullAt(trend(filling(random, { rate, start, count, everyMs: HOUR / 4, sigma: 0.3 })), threshold)!;
			expect(Math.abs(forecast - truth)).toBeLessThan(10 * 60_000);
		}
	});
});

describe("reports late or twice", () => {
	const points = filling(seededRandom(7), { rate: 10, start: 20, count: 12, everyMs: HOUR / 4, sigma: 0.5 });
	const inOrder = trend(timeline(points))!;

	it("give the same trend in any order and with duplicates", () => {
		const shuffled = [...points].reverse();
		const twice = [...points, ...points.slice(3, 8)];
		expect(trend(timeline(shuffled))).toEqual(inOrder);
		expect(trend(timeline(twice))).toEqual(inOrder);
	});

	it("shrug off a wild reading (a bag dropped on the sensor)", () => {
		const wild = points.map((p, i) => (i === 6 ? { ...p, level: 95 } : p));
		expect(Math.abs(trend(timeline(wild))!.rate - inOrder.rate)).toBeLessThan(1);
	});
});

describe("emptyings and fill cycles", () => {
	const at = (level: number, hour: number, id = `h${hour}`): Point => ({ id, level, at: START + hour * HOUR });
	const points = timeline([at(20, 0), at(50, 1), at(85, 2), at(4, 3), at(10, 4), at(16, 5), at(40, 6), at(20, 7)]);

	it("sees a drop of more than EMPTIED_DROP points as an emptying, and a smaller one as noise", () => {
		expect(emptyings(points, 30)).toEqual([{ from: START + 2 * HOUR, fromId: "h2", at: START + 3 * HOUR, atId: "h3", levelBefore: 85, levelAfter: 4 }]);
	});

	it("cuts the reports into fill cycles at each emptying", () => {
		expect(cycles(points, emptyings(points, 30)).map(cycle => cycle.map(p => p.level))).toEqual([
			[20, 50, 85],
			[4, 10, 16, 40, 20]
		]);
	});

	it("knows when a cycle first got full", () => {
		expect(fullSince(timeline([at(50, 0), at(79, 1), at(81, 2), at(79, 3), at(90, 4)]), 80)).toBe(START + 2 * HOUR);
		expect(fullSince(points.slice(0, 2), 80)).toBeNull();
	});

	it("forecasts nothing for a can that is not filling", () => {
		expect(fullAt(trend([at(40, 0), at(40, 1), at(39.9, 2)]), 80)).toBeNull();
		expect(trend([at(40, 0)])).toBeNull();
		expect(trend([at(40, 0, "a"), at(41, 0, "b")])).toBeNull();
	});
});

it("median is the middle of the sorted values (the mean of the two middle ones for an even count), ties and all", () => {
	const random = seededRandom(11);
	for (let n = 1; n <= 800; n += 1 + Math.floor(random() * 9)) {
		// few distinct values in some arrays (ties), a spread in others, sorted ones too
		const distinct = random() < 0.3 ? 3 : 1e6;
		const values = Float64Array.from({ length: n }, () => Math.floor(random() * distinct) - distinct / 2 + random() * (distinct > 3 ? 1 : 0));
		if (random() < 0.2) values.sort();
		const sorted = Float64Array.from(values).sort();
		const expected = n % 2 ? sorted[n >> 1] : (sorted[(n >> 1) - 1] + sorted[n >> 1]) / 2;
		expect([n, median(values)]).toEqual([n, expected]);
	}
});

describe("canState", () => {
	it.each([
		[2, null, 0, "empty"],
		[50, null, 0, "normal"],
		[85, START, START + HOUR, "full"],
		[85, START, START + 3 * HOUR, "overfull"],
		[100, START, START, "overfull"]
	] as const)("a can at %d %% (full since %s, now %s) is %s", (level, since, now, state) => {
		expect(canState(level, 80, since, now, 2 * HOUR)).toBe(state);
	});
});

describe("downsample", () => {
	it("keeps the last level of each step, aligned to the epoch, in time order", () => {
		const iso = (minute: number) => new Date(START + minute * 60_000).toISOString();
		const points = [1, 5, 14, 15, 29, 31].map((minute, i) => ({ level: i, reportedAt: iso(minute) }));
		expect(downsample(points, 15 * 60_000)).toEqual([
			{ level: 2, reportedAt: iso(14) },
			{ level: 4, reportedAt: iso(29) },
			{ level: 5, reportedAt: iso(31) }
		]);
	});
});
