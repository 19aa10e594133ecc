/**
 * `npm run bench` keeps working: the whole suite with tiny counts (`--smoke`: 1 s per HTTP row,
 * 1 000 reports) on the test run's servers, into a temp results file. Speed is not asserted here
 * (the machine is shared); the shape of the results is: every row of issue #7 measured, nothing
 * failed or lost, each ratio computed against its baseline, the committed results and docs untouched.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Results } from "../../bench/report";

const ROOT = path.resolve(__dirname, "../..");
const committed = (file: string) => (fs.existsSync(path.join(ROOT, file)) ? fs.readFileSync(path.join(ROOT, file), "utf8") : null);

it("runs every row with tiny counts and writes well-formed results", async () => {
	const results = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-bench-")), "results.json");
	const before = [committed("bench/results.json"), committed("docs/benchmarks.md")];
	const output = await new Promise<string>((resolve, reject) =>
		execFile(
			"npm",
			["run", "--silent", "bench", "--", "--smoke", "--results", results],
			{ cwd: ROOT, env: process.env, timeout: 150_000, maxBuffer: 16 << 20 },
			(err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout))
		)
	);
	const r = JSON.parse(fs.readFileSync(results, "utf8")) as Results;

	expect(r.rows.map(row => row.id)).toEqual([
		"1a",
		"1b",
		"1c",
		"7a",
		"7b",
		"7e",
		"7c",
		"7d",
		"2a",
		"2b",
		"4",
		"2c",
		"2d",
		"3a",
		"3b",
		"5a",
		"5b",
		"5c",
		"5d",
		"5e",
		"5f",
		"5g",
		"5h",
		"5k",
		"5i",
		"5j"
	]);
	for (const row of r.rows) {
		expect(row.rate).toBeGreaterThan(0);
		expect(row.errors).toBe(0); // no failed request, no lost report
		const base = r.rows.find(b => b.id === row.baseline)!;
		expect(row.ratio).toBeCloseTo(row.rate / base.rate, 6);
		if (row.unit === "req/s") expect(row.p99).toBeGreaterThanOrEqual(row.p50!);
		// what each request or applied report cost the machine (the raw baselines and the producer alone have no system under test)
		if (!["5a", "5d", "5g", "5i"].includes(row.id)) expect(row.cpuUsPerItem).toBeGreaterThan(0);
		// node:http, the embedded gateway and the plain nats hops' gateway: the serving process's own CPU too; ingest: the consumers'
		if (/^([17]|2[cd]|5[bcefhjk])/.test(row.id)) expect(row.serverCpuUsPerItem).toBeGreaterThan(0);
	}
	// the baselines the issue names
	expect(Object.fromEntries(r.rows.map(row => [row.id, row.baseline]))).toMatchObject({
		"7b": "7a",
		"7d": "7c",
		"7e": "7a",
		"2a": "1a",
		"2b": "1b",
		"2c": "7a",
		"2d": "7c",
		"3a": "2a",
		"3b": "2b",
		"4": "1c",
		"5b": "5a",
		"5c": "5a",
		"5d": "5d",
		"5e": "5d",
		"5f": "5d",
		"5g": "5d",
		"5h": "5d",
		"5k": "5d",
		"5i": "5i",
		"5j": "5i"
	});
	expect(r.settings).toEqual({ connections: 16, durationS: 1, reports: 1_000 });

	expect(r.startToReadyMs).toBeGreaterThan(0);
	expect(r.startToReadyPgMs).toBeGreaterThan(0);
	const processes = r.memory.map(m => `${m.deployment}/${m.process}`);
	expect(processes).toEqual(
		expect.arrayContaining([
			"embedded/npm start (all six)",
			"nats/gateway",
			"nats/db",
			"amqp/trashReport",
			"ingest nats/trashReport-1",
			"backlog amqp/trashReport-3"
		])
	);
	for (const m of r.memory) expect(m.maxRssMB).toBeGreaterThan(10);
	// rows 7, 2 and 3 per endpoint, ingest on NATS and on AMQP, the backlog's rate and CPU, the live
	// burst, the AMQP backlog against NATS's, start-to-ready, memory
	expect(r.targets).toHaveLength(15);
	for (const t of r.targets) expect(t).toEqual({ what: expect.any(String), measured: expect.stringMatching(/\d/), met: expect.any(Boolean) });

	expect(output).toContain("| 5b | burst: NATS JetStream");
	// the backlog target lines read against the ceiling with this store (row 5k)
	expect(r.targets.find(t => t.what.startsWith("row 5e backlog drain"))?.measured).toMatch(/row 5k: \d/);
	// the two-hop target lines say what the hops alone cost, with no framework (rows 2c, 2d)
	expect(r.targets.find(t => t.what.startsWith("CPU per request of row 2b"))?.measured).toMatch(/row 2d − row 7c: -?\d+ µs = -?[\d.]+ × row 1b/);
	expect(r.targets.find(t => t.what.startsWith("row 2a"))?.measured).toMatch(/row 2c − row 7a: -?\d+ µs/);
	expect([committed("bench/results.json"), committed("docs/benchmarks.md")]).toEqual(before);
}, 180_000);
