/**
 * The lean metric types (lib/metrics.ts) are Moleculer's, cheaper: driven with the same updates,
 * they hold the same series and snapshot them the same way, and the histogram's quantile window
 * stays bounded however many values it sees.
 */
import fc from "fast-check";
import { MetricTypes, ServiceBroker } from "moleculer";
import { compileLabelHash, compileLabelKey, LeanCounter, LeanGauge, LeanHistogram, RESERVOIR, useLeanMetricTypes, WindowQuantiles } from "../../lib/metrics";

// Moleculer's own classes, taken before anything registers the lean ones
const Moleculer = { Counter: MetricTypes.Counter, Gauge: MetricTypes.Gauge, Histogram: MetricTypes.Histogram };

const broker = new ServiceBroker({ logger: false, metrics: { enabled: true, reporter: [] } });
const registry = broker.metrics;
afterAll(() => broker.stop());

const LABEL_NAMES = ["service", "action", "caller", 'odd"name'];
const labelValue = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant({}));
const labels = fc.dictionary(fc.constantFrom(...LABEL_NAMES, "other"), labelValue);

it("hashes labels to exactly Moleculer's key", () => {
	const original = new Moleculer.Gauge({ type: "gauge", name: "g", labelNames: LABEL_NAMES }, registry);
	const hash = compileLabelHash(LABEL_NAMES);
	fc.assert(fc.property(labels, l => expect(hash(l)).toBe(original.hashingLabels(l))));
	for (const odd of [null, undefined, "text", 3] as never[]) expect(hash(odd)).toBe(original.hashingLabels(odd));
	expect(compileLabelHash([])({ a: 1 })).toBe("");
});

it("remembers label combinations by value and gives Moleculer's key for each, also past the combinations it keeps", () => {
	const original = new Moleculer.Gauge({ type: "gauge", name: "g", labelNames: LABEL_NAMES }, registry);
	const key = compileLabelKey(LABEL_NAMES, 50);
	fc.assert(
		fc.property(fc.array(labels, { minLength: 1, maxLength: 20 }), sets => {
			for (const l of [...sets, ...sets]) expect(key(l)).toBe(original.hashingLabels(l));
		})
	);
	for (const odd of [null, undefined, "text", 3] as never[]) expect(key(odd)).toBe(original.hashingLabels(odd));
	const remembering = compileLabelKey(["service", "action"]);
	expect(remembering({ service: "a", action: "x" })).toBe(remembering({ action: "x", service: "a" }));
	// 1 and "1" are different labels (`1` and `"1"`), as null, undefined and objects are the same one
	expect(remembering({ service: 1 })).not.toBe(remembering({ service: "1" }));
	expect(remembering({ service: null })).toBe(remembering({ service: {} }));
	expect(compileLabelKey([])({ a: 1 })).toBe("");
});

/** A snapshot without the times at which it was taken. */
const timeless = (snapshot: unknown[]) => JSON.parse(JSON.stringify(snapshot, (key, value) => (key === "timestamp" ? undefined : value)));

// a few label sets, so that series repeat
const series = fc.constantFrom({ service: "a", action: "x" }, { service: "b", action: "y", caller: "c" }, {});

it("counts and gauges the same series as Moleculer's", () => {
	fc.assert(
		fc.property(fc.array(fc.tuple(fc.constantFrom("increment", "decrement", "set"), series, fc.integer({ min: -5, max: 5 })), { maxLength: 60 }), ops => {
			const opts = { type: "gauge", name: "g", labelNames: ["service", "action", "caller"] };
			const [original, lean] = [new Moleculer.Gauge(opts, registry), new LeanGauge(opts, registry)];
			const [counter, leanCounter] = [new Moleculer.Counter({ ...opts, type: "counter" }, registry), new LeanCounter({ ...opts, type: "counter" }, registry)];
			for (const [op, l, n] of ops) {
				for (const g of [original, lean])
					if (op === "set") g.set(n, l);
					else g[op](l, n);
				if (op === "increment") for (const c of [counter, leanCounter]) c.increment(l, Math.abs(n));
			}
			expect(timeless(lean.snapshot())).toEqual(timeless(original.snapshot()));
			expect(timeless(leanCounter.snapshot())).toEqual(timeless(counter.snapshot()));
			expect(leanCounter.type).toBe("counter");
			expect(() => leanCounter.decrement()).toThrow("Counter can't be decreased.");
		})
	);
});

it("observes histograms as Moleculer's: buckets, sum, count and, below the reservoir size, the same quantiles", () => {
	const value = fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(0.001, 0.0025, 1, 5, 10, 100_000));
	fc.assert(
		fc.property(fc.array(fc.tuple(series, value), { maxLength: 120 }), observations => {
			const opts = {
				type: "histogram",
				name: "h",
				labelNames: ["service", "action", "caller"],
				buckets: [0.001, 0.0025, 0.005, 1, 2.5, 5, 10],
				quantiles: true
			};
			const [original, lean] = [new Moleculer.Histogram(opts, registry), new LeanHistogram(opts, registry)];
			for (const [l, v] of observations) for (const h of [original, lean]) h.observe(v, l);
			const [expected, actual] = [timeless(original.snapshot()), timeless(lean.snapshot())];
			// sums taken in another order (and Welford's variance against a two-pass one) differ in the
			// last bits: those three are compared within a relative 1e-9 (rounding both could straddle a
			// digit). Both report a variance of 0 as a null stdDev, and values equal to their last bits
			// (or ~1e-162, whose squares underflow) can give 0 on one side and a few ulps on the other.
			expect(actual.length).toBe(expected.length);
			actual.forEach((s: Record<string, number | null>, i: number) => {
				expect(s.mean == null).toBe(expected[i].mean == null);
				for (const k of ["mean", "variance", "stdDev"]) {
					const [a, e] = [s[k] ?? 0, expected[i][k] ?? 0];
					expect(Math.abs(a - e)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(e)));
					s[k] = expected[i][k];
				}
			});
			expect(actual).toEqual(expected);
		})
	);
});

it("keeps a bounded sample of a busy window, with exact min, max and mean and close quantiles", () => {
	const window = new WindowQuantiles([0.5, 0.9, 0.99], 60, 10, () => {});
	try {
		// 200 000 values spread evenly over 0…1000
		for (let i = 0; i < 200_000; i++) window.add(((i * 7919) % 200_000) / 200);
		const s = window.snapshot();
		expect(s.min).toBe(0);
		expect(s.max).toBeCloseTo(999.995, 6);
		expect(s.mean).toBeCloseTo(499.9975, 3);
		// a random sample of 256: the median's standard error is ≈ 31 here, so ±150 is ~5 of them
		expect(s.quantiles[0.5]).toBeGreaterThan(350);
		expect(s.quantiles[0.5]).toBeLessThan(650);
		expect(s.quantiles[0.99]).toBeGreaterThan(950);
		// one slice of the ten was filled: it holds RESERVOIR values, not 200 000
		expect((window as unknown as { slices: { sample: number[] }[] }).slices.map(slice => slice.sample.length)).toEqual([RESERVOIR, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
	} finally {
		window.stop();
	}
});

it("serves every broker of the process once registered under Moleculer's type names", () => {
	useLeanMetricTypes();
	expect(MetricTypes.resolve("histogram")).toBe(LeanHistogram);
	expect(MetricTypes.resolve("counter")).toBe(LeanCounter);
	expect(MetricTypes.resolve("gauge")).toBe(LeanGauge);
});
