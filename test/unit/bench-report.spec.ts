/**
 * Row 8's target (issue #18) as `targets()` checks it, without installing NestJS: the default
 * test run never runs `npm run bench -- --peer`, so these rows are made up here.
 */
import { PEER_DEPLOYMENT, targets } from "../../bench/report";
import type { ProcessMemory, Row } from "../../bench/report";

const levels = (id: string, rate: number, baseline: string): Row => ({
	id,
	label: `GET /levels ${id}`,
	unit: "req/s",
	rate,
	p50: 2,
	p99: 9,
	errors: 0,
	cpuUsPerItem: 300,
	serverCpuUsPerItem: 150,
	baseline,
	ratio: rate / (baseline === "8a" ? 4_000 : rate)
});
const PEER_TARGET = "row 8b (ours over NATS) ≥ 1.5 × row 8a (NestJS over NATS)";

it.each([
	[6_000, true],
	[5_999, false]
])("row 8b at %d req/s against NestJS's 4 000: met is %s", (rate, met) => {
	const list = targets([levels("8a", 4_000, "8a"), levels("8b", rate, "8a")], { startToReadyMs: 0 }, []);
	expect(list).toEqual([{ what: PEER_TARGET, measured: expect.stringContaining(`against 4 000 req/s`), met }]);
});

it("no row 8, no peer target: a run without --peer checks what it did before", () => {
	expect(targets([levels("2a", 2_000, "2a")], { startToReadyMs: 0 }, []).map(t => t.what)).not.toContain(PEER_TARGET);
});

it("NestJS's processes are reported, but only ours are held to ≤ 120 MB", () => {
	const memory: ProcessMemory[] = [
		{ deployment: PEER_DEPLOYMENT, process: "gateway", maxRssMB: 150 },
		{ deployment: "peer ours", process: "gateway", maxRssMB: 110 },
		{ deployment: "peer ours", process: "trashReport", maxRssMB: 90 }
	];
	expect(targets([], { startToReadyMs: 0 }, memory)).toEqual([
		{ what: "≤ 120 MB resident per process under load", measured: "max 110 MB (peer ours gateway)", met: true }
	]);
});

it("row 8b's line says what the same hop reaches with no framework (8c) and with Moleculer's defaults (8d), without counting them in the target", () => {
	const rows = [levels("8a", 4_000, "8a"), levels("8b", 5_000, "8a"), levels("8c", 8_000, "8a"), levels("8d", 6_400, "8a")];
	expect(targets(rows, { startToReadyMs: 0 }, [])).toEqual([
		{
			what: PEER_TARGET,
			measured:
				"1.25 (5 000 against 4 000 req/s; the same hop with no framework, row 8c: 2.00 ×; Moleculer + moleculer-web with their defaults, row 8d: 1.60 ×)",
			met: false
		}
	]);
});

it("the two-hop lines subtract node:http answering the same JSON from the plain nats hops, as a share of the embedded row's CPU", () => {
	const row = (id: string, baseline: string, rate: number, cpuUsPerItem: number): Row => ({ ...levels(id, rate, baseline), cpuUsPerItem, ratio: 0.5 });
	const list = targets(
		[row("1b", "1b", 10_000, 200), row("7c", "7c", 40_000, 50), row("2b", "1b", 3_000, 600), row("2d", "7c", 3_500, 450)],
		{ startToReadyMs: 0 },
		[]
	);
	const hops = "(the hops alone, row 2d − row 7c: 400 µs = 2.00 × row 1b's CPU)";
	expect(list).toEqual([
		{ what: expect.stringMatching(/^row 2b .* ≥ 0.75 × row 1b$/), measured: `0.50 ${hops}`, met: false },
		{ what: "CPU per request of row 2b ≤ 1.5 × row 1b", measured: `3.00 × ${hops}`, met: false }
	]);
});
