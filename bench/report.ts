/**
 * The bench's results: their shape (bench/results.json), the targets of issue #7 checked against
 * them, and the markdown table that `npm run bench` writes between the markers of docs/benchmarks.md.
 */
import fs from "node:fs";
import os from "node:os";

export interface Row {
	/** "1a", "2b", … : the issue's row number and a letter per endpoint. */
	id: string;
	label: string;
	unit: "req/s" | "reports/s";
	rate: number;
	/** Latency in ms (HTTP rows; a burst has throughput only). */
	p50: number | null;
	p99: number | null;
	/** HTTP: socket errors + timeouts + non-2xx answers. Ingest: reports not applied (lost). */
	errors: number;
	/** CPU time of the whole system under test (load generator, services, bus, PostgreSQL) per request or report, µs. */
	cpuUsPerItem: number | null;
	/** CPU time of the process serving HTTP alone, per request, µs (rows 1 and 7: `npm start`, and node:http; row 8: each gateway), or of the trashReport processes per report (rows 5). */
	serverCpuUsPerItem?: number;
	/** Id of the row this one is compared with; itself for a baseline. */
	baseline: string;
	ratio: number;
}

export interface ProcessMemory {
	deployment: string;
	process: string;
	/** Highest VmRSS seen while the deployment was under load. */
	maxRssMB: number;
}

export interface Target {
	what: string;
	measured: string;
	met: boolean;
}

export interface Results {
	date: string;
	command: string;
	machine: { cpus: string; memory: string; node: string; os: string };
	settings: { connections: number; durationS: number; reports: number };
	rows: Row[];
	/** Row 6: `npm start` with its defaults (NeDB files), spawn to GET /health/ready 200. */
	startToReadyMs: number;
	/** Row 6 with DB_URI on PostgreSQL (a fresh database: every table created). */
	startToReadyPgMs?: number;
	memory: ProcessMemory[];
	targets: Target[];
}

export function machine(): Results["machine"] {
	const cpus = os.cpus();
	const models = [...new Set(cpus.map(c => c.model.trim()))].join(", ");
	return {
		cpus: `${cpus.length} × ${models}`,
		memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
		node: process.version,
		os: `${os.type()} ${os.release()} ${os.arch()}`
	};
}

/** The memory rows of row 8's NestJS processes: measured for comparison, not ours to keep under a limit. */
export const PEER_DEPLOYMENT = "peer nest";

/** The targets of issues #7, #16, #18 and #21, checked against one run's rows. */
export function targets(
	rows: Row[],
	{ startToReadyMs, startToReadyPgMs = 0 }: Pick<Results, "startToReadyMs" | "startToReadyPgMs">,
	memory: ProcessMemory[]
): Target[] {
	const row = (id: string) => rows.find(r => r.id === id);
	const ratio = (id: string, min: number): Target | null => {
		const r = row(id);
		return r ? { what: `row ${id} (${r.label}) ≥ ${min} × row ${r.baseline}`, measured: r.ratio.toFixed(2), met: r.ratio >= min } : null;
	};
	// issue #21: the embedded gateway against plain node:http answering the same JSON; issue #18: two hops
	// what the hops alone cost with no framework (rows 2c, 2d: plain nats clients), above node:http
	// answering the same JSON itself (rows 7a, 7c), as a share of the embedded row's CPU per request
	const hops = (floorId: string, directId: string, embeddedId: string) => {
		const [floor, direct, embedded] = [row(floorId), row(directId), row(embeddedId)];
		if (floor?.cpuUsPerItem == null || direct?.cpuUsPerItem == null || embedded?.cpuUsPerItem == null) return "";
		const us = floor.cpuUsPerItem - direct.cpuUsPerItem;
		return ` (the hops alone, row ${floorId} − row ${directId}: ${us.toFixed(0)} µs = ${(us / embedded.cpuUsPerItem).toFixed(2)} × row ${embeddedId}'s CPU)`;
	};
	const withHops = (target: Target | null, floorId: string, directId: string, embeddedId: string) =>
		target && { ...target, measured: target.measured + hops(floorId, directId, embeddedId) };
	const list = [
		ratio("7b", 0.6),
		ratio("7d", 0.4),
		withHops(ratio("2a", 0.9), "2c", "7a", "1a"),
		withHops(ratio("2b", 0.75), "2d", "7c", "1b"),
		ratio("3a", 0.5),
		ratio("3b", 0.5)
	];
	const [twoHops, embedded] = [row("2b"), row("1b")];
	if (twoHops?.cpuUsPerItem != null && embedded?.cpuUsPerItem != null) {
		const cpu = twoHops.cpuUsPerItem / embedded.cpuUsPerItem;
		list.push({ what: "CPU per request of row 2b ≤ 1.5 × row 1b", measured: `${cpu.toFixed(2)} ×${hops("2d", "7c", "1b")}`, met: cpu <= 1.5 });
	}
	const nats = row("5b");
	if (nats)
		list.push({
			what: "row 5b ingest on NATS ≥ 25 000 reports/s with 0 lost",
			measured: `${fmt(nats.rate)} reports/s, ${nats.errors} lost`,
			met: nats.rate >= 25_000 && nats.errors === 0
		});
	// issue #16: the system draining a backlog against a raw JetStream consumer draining the same one
	const drain = row("5e");
	const alone = row("5k");
	if (drain) {
		list.push({
			what: "row 5e backlog drain on NATS ≥ 0.9 × row 5d (raw JetStream consumer)",
			// with what the store's work alone reaches (row 5k): no consumer of this store can pass it
			measured: `${drain.ratio.toFixed(2)}${alone ? ` (the store's work alone, row 5k: ${alone.ratio.toFixed(2)}; 5e = ${(drain.rate / alone.rate).toFixed(2)} × 5k)` : ""}`,
			met: drain.ratio >= 0.9 && drain.errors === 0
		});
		if (drain.cpuUsPerItem != null)
			list.push({
				what: "CPU per applied report of row 5e ≤ 60 µs",
				measured: `${drain.cpuUsPerItem.toFixed(0)} µs${alone?.cpuUsPerItem != null ? ` (row 5k: ${alone.cpuUsPerItem.toFixed(0)})` : ""}`,
				met: drain.cpuUsPerItem <= 60
			});
	}
	const live = row("5h");
	if (live)
		list.push({
			what: "row 5h live burst on NATS ≥ 0.8 × row 5d (raw JetStream consumer)",
			measured: live.ratio.toFixed(2),
			met: live.ratio >= 0.8 && live.errors === 0
		});
	const amqpDrain = row("5j");
	if (amqpDrain && drain) {
		const ofNats = amqpDrain.rate / drain.rate;
		list.push({
			what: "row 5j backlog drain on AMQP ≥ 0.5 × row 5e (the same on NATS)",
			measured: `${ofNats.toFixed(2)} (${amqpDrain.ratio.toFixed(2)} × row 5i, raw amqplib)`,
			met: ofNats >= 0.5 && amqpDrain.errors === 0
		});
	}
	const amqp = row("5c");
	if (amqp) list.push({ what: "row 5c ingest on AMQP: 0 lost", measured: `${amqp.errors} lost`, met: amqp.errors === 0 });
	if (startToReadyMs > 0)
		list.push({
			what: "start-to-ready of `npm start` < 1 s",
			measured: `${seconds(startToReadyMs)}${startToReadyPgMs > 0 ? ` (on PostgreSQL: ${seconds(startToReadyPgMs)})` : ""}`,
			met: startToReadyMs < 1_000
		});
	// issue #18: the same GET /levels on NestJS (Fastify), both over the same nats-server
	// beside it, what the same hop reaches with no framework (8c) and with Moleculer's defaults (8d)
	const [ours, nest, plain, moleculer] = [row("8b"), row("8a"), row("8c"), row("8d")];
	if (ours && nest)
		list.push({
			what: "row 8b (ours over NATS) ≥ 1.5 × row 8a (NestJS over NATS)",
			measured:
				`${ours.ratio.toFixed(2)} (${fmt(ours.rate)} against ${fmt(nest.rate)} req/s` +
				(plain ? `; the same hop with no framework, row 8c: ${plain.ratio.toFixed(2)} ×` : "") +
				(moleculer ? `; Moleculer + moleculer-web with their defaults, row 8d: ${moleculer.ratio.toFixed(2)} ×` : "") +
				")",
			met: ours.ratio >= 1.5
		});
	const own = memory.filter(m => m.deployment !== PEER_DEPLOYMENT);
	if (own.length > 0) {
		const top = own.reduce((a, b) => (b.maxRssMB > a.maxRssMB ? b : a));
		list.push({
			what: "≤ 120 MB resident per process under load",
			measured: `max ${top.maxRssMB.toFixed(0)} MB (${top.deployment} ${top.process})`,
			met: top.maxRssMB <= 120
		});
	}
	return list.filter((t): t is Target => t !== null);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US").replace(/,/g, " ");
const ms = (n: number | null) => (n == null ? "–" : n.toFixed(n < 10 ? 1 : 0));
const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(2)} s`;

export function markdown(r: Results): string {
	const lines = [
		`Measured ${r.date} with \`${r.command}\` on ${r.machine.cpus}, ${r.machine.memory} RAM, Node ${r.machine.node}, ${r.machine.os}.`,
		`HTTP rows: autocannon, ${r.settings.connections} connections, ${r.settings.durationS} s each, 127.0.0.1. Ingest: ${fmt(r.settings.reports)}-report bursts.`,
		"",
		"| row | what | rate | p50 ms | p99 ms | errors | × baseline | CPU µs each | server CPU µs each |",
		"|---|---|---:|---:|---:|---:|---:|---:|---:|",
		...r.rows.map(
			row =>
				`| ${row.id} | ${row.label} | ${fmt(row.rate)} ${row.unit} | ${ms(row.p50)} | ${ms(row.p99)} | ${row.errors} | ${row.id === row.baseline ? "baseline" : `${row.ratio.toFixed(2)} × ${row.baseline}`} | ${row.cpuUsPerItem == null ? "–" : fmt(row.cpuUsPerItem)} | ${row.serverCpuUsPerItem == null ? "–" : fmt(row.serverCpuUsPerItem)} |`
		),
		"",
		"CPU µs each: CPU time used by the bench (autocannon), every service process, the bus and PostgreSQL during the row, per request (per report for ingest). Other users of the machine slow a row down without changing this much. Server CPU µs each: the same for the process serving HTTP alone (rows 1 and 7; row 8: the gateway), or for the trashReport processes alone (ingest rows).",
		"",
		...(r.startToReadyMs > 0
			? [
					`Row 6: \`npm start\` (all six services, one process) answered \`GET /health/ready\` 200 **${seconds(r.startToReadyMs)}** after the spawn with its defaults (NeDB files)` +
						(r.startToReadyPgMs ? `, ${seconds(r.startToReadyPgMs)} with \`DB_URI\` on PostgreSQL (a fresh database: every table created).` : ".")
				]
			: []),
		"Resident memory (highest VmRSS while the deployment was under load):",
		"",
		"| deployment | process | max RSS MB |",
		"|---|---|---:|",
		...r.memory.map(m => `| ${m.deployment} | ${m.process} | ${m.maxRssMB.toFixed(0)} |`),
		"",
		"| target (issues #7, #16, #18, #21) | measured | |",
		"|---|---|---|",
		...r.targets.map(t => `| ${t.what} | ${t.measured} | ${t.met ? "met" : "**missed**"} |`)
	];
	return lines.join("\n");
}

export const START = "<!-- bench:results:start (written by npm run bench) -->";
export const END = "<!-- bench:results:end -->";

/** Replaces the text between the markers of `file` (the hand-written rest of the file stays). */
export function refreshDoc(file: string, r: Results): void {
	const text = fs.readFileSync(file, "utf8");
	const from = text.indexOf(START);
	const to = text.indexOf(END);
	if (from < 0 || to < from) throw new Error(`${file} has no ${START} … ${END} section`);
	fs.writeFileSync(file, `${text.slice(0, from + START.length)}\n${markdown(r)}\n${text.slice(to)}`);
}
