/**
 * Durable, at-least-once ingestion of trash-level reports on NATS JetStream and on RabbitMQ:
 * plain field producers in the seed format, consumers down or killed mid-burst, bad reports
 * dead-lettered with a reason — every accepted report applied exactly once in effect.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import amqp from "amqplib";
import fc from "fast-check";
import { connect, StringCodec } from "nats";
import { Client } from "pg";
import type { ServiceSchema } from "moleculer";
import Simulator from "../../services/simulator.service";
import type { SimulatorStatus } from "../../lib/contracts";
import { startDeployment } from "../../harness/deployment";
import type { Deployment, DeploymentKind } from "../../harness/deployment";
import { eventually } from "../../harness/system";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");
const KINDS = (process.env.DEPLOYMENTS ?? "nats,amqp").split(",").filter(k => k !== "embedded") as DeploymentKind[];
/** The 100 000 by default; INGEST_BURST=20000 for a quicker local run. */
const BURST = Number(process.env.INGEST_BURST ?? 100_000);

describe.each(KINDS)("on %s", kind => {
	let sys: Deployment;
	let pg: Client;
	/** The channel's name on the bus: the adapter prefixes the broker namespace (each test run has its own). */
	let channel: string;

	beforeAll(async () => {
		sys = await startDeployment(kind, {
			layout: [
				["gateway", ["rest", "systemManager", "pilot", "db"]],
				["trashReport-1", ["trashReport"]],
				["trashReport-2", ["trashReport"]],
				["trashReport-3", ["trashReport"]]
			]
		});
		channel = `${sys.env.NAMESPACE}.trash-level`;
		pg = new Client({ connectionString: sys.env.DB_URI });
		await pg.connect();
		// The test's node carries a simulator of its own: the load generator, cans 301…310.
		await sys.broker.createService({ name: "simulator", mixins: [Simulator], settings: { cans: 10, intervalMs: 4_000, autostart: false } } as ServiceSchema);
		await sys.broker.waitForServices("simulator");
	}, 120_000);
	afterAll(async () => {
		await pg?.end();
		await sys?.stop();
	});

	const appliedCount = async () => Number((await pg.query(`SELECT count(*) FROM reports WHERE status = 'applied'`)).rows[0].count);
	const trashReports = () => sys.procs.filter(p => p.services.includes("trashReport"));
	const simulator = () => sys.broker.getLocalService("simulator") as unknown as { cans: { id: string; level: number }[] };

	it("ingests a plain producer's seed format, level as a number", async () => {
		const producer =
			kind === "nats"
				? ["examples/nats-producer.ts", "--url", sys.env.TRANSPORTER, "--subject", channel, "--can", "333", "--level", "30.65", "--confirm"]
				: ["examples/amqp-producer.ts", "--url", sys.env.TRANSPORTER, "--exchange", channel, "--can", "333", "--level", "30.65"];
		await run(process.execPath, ["--import", "tsx", ...producer], { cwd: ROOT });
		const can = await eventually(async () => {
			const res = await sys.get("/levels/333");
			return res.status === 200 && res.body;
		}, 10_000);
		expect(can).toMatchObject({ canId: "333", level: 30.65 });
	});

	it("dead-letters 20 kinds of bad reports with the reason; the valid ones around them are applied", async () => {
		const bad: string[] = [
			"not json",
			'{"can_id": "1", "level": ',
			"",
			"null",
			"42",
			'"a string"',
			"[1, 2]",
			JSON.stringify({ level: "10" }),
			JSON.stringify({ can_id: "", level: "10" }),
			JSON.stringify({ can_id: "   ", level: "10" }),
			JSON.stringify({ can_id: { $ne: 1 }, level: "10" }),
			JSON.stringify({ can_id: -5, level: "10" }),
			JSON.stringify({ can_id: "c".repeat(65), level: "10" }),
			JSON.stringify({ can_id: "1" }),
			JSON.stringify({ can_id: "1", level: "abc" }),
			JSON.stringify({ can_id: "1", level: -1 }),
			JSON.stringify({ can_id: "1", level: "101" }),
			JSON.stringify({ can_id: "1", level: true }),
			JSON.stringify({ can_id: "1", level: null }),
			JSON.stringify({ can_id: "1", level: "0x1F" }),
			JSON.stringify({ can_id: "1", level: "10", reportedAt: "yesterday" }),
			JSON.stringify({ can_id: "1", level: "10", reportedAt: "2999-01-01T00:00:00Z" })
		];
		const good = (n: number) => JSON.stringify({ can_id: `dl-good-${n}`, level: String(n) });
		const bodies = [good(1), ...bad.flatMap((b, i) => [b, ...(i % 5 === 4 ? [good(i + 2)] : [])]), good(99)];
		const deadLetters = await publishAndCollectDeadLetters(kind, sys, channel, bodies, bad.length);

		expect(deadLetters).toHaveLength(bad.length);
		for (const letter of deadLetters)
			expect(letter).toEqual(expect.objectContaining({ reason: expect.any(String), field: expect.any(String), receivedAt: expect.any(String) }));
		expect(deadLetters.filter(l => l.reason === "The report is not JSON.").length).toBeGreaterThanOrEqual(3);
		expect(new Set(deadLetters.map(l => l.field))).toEqual(new Set(["body", "can_id", "level", "reportedAt"]));
		for (const n of [1, 6, 11, 16, 21, 99]) expect((await sys.get(`/levels/dl-good-${n}`)).body).toMatchObject({ level: n });
		expect((await sys.get("/levels/1")).status).toBe(404);
	});

	it("dead-letters 1 000 generated malformed reports; 100 valid ones published between them are all applied", async () => {
		const bad = fc.sample(malformedReport, { seed: 20261123, numRuns: 1_000 });
		const bodies: string[] = [];
		bad.forEach((body, i) => {
			bodies.push(body);
			if (i % 10 === 9) bodies.push(JSON.stringify({ can_id: `fz-${i}`, level: String(i % 101) }));
		});
		const deadLetters = await publishAndCollectDeadLetters(kind, sys, channel, bodies, bad.length);
		expect(deadLetters).toHaveLength(bad.length);
		expect(deadLetters.every(l => typeof l.reason === "string" && l.reason.length > 0)).toBe(true);
		for (let i = 9; i < 1_000; i += 10) expect((await sys.get(`/levels/fz-${i}`)).body).toMatchObject({ level: i % 101 });
	}, 60_000);

	it("keeps reports while every consumer is down: 1 000 published, all applied when one comes back", async () => {
		for (const proc of trashReports()) await sys.kill(proc, "SIGTERM");
		await eventually(async () => !((await sys.get("/workers")).body as { type: string }[]).some(w => w.type === "trashReport"), 15_000, 100);
		const before = await appliedCount();
		await sys.broker.call("simulator.burst", { count: 1_000 });

		await sys.spawn("trashReport-1", ["trashReport"]);
		await eventually(async () => (await appliedCount()) === before + 1_000, 60_000, 250);
		await sys.spawn("trashReport-2", ["trashReport"]);
		await sys.spawn("trashReport-3", ["trashReport"]);
		await eventually(
			async () => ((await sys.get("/workers")).body as { type: string; instances: number }[]).find(w => w.type === "trashReport")?.instances === 3,
			30_000,
			200
		);
	}, 120_000);

	it(`applies a ${BURST}-report burst exactly once with a replica killed -9 in the middle; every can ends at its newest report`, async () => {
		const before = await appliedCount();
		const started = Date.now();
		const burst = sys.broker.call<{ published: number }, { count: number }>("simulator.burst", { count: BURST }, { timeout: 0 });

		await eventually(async () => (await appliedCount()) - before >= BURST * 0.3, 240_000, 200);
		const [, victim] = trashReports();
		await sys.kill(victim, "SIGKILL");
		await sys.spawn(victim.name, ["trashReport"]);
		expect((await burst).published).toBe(BURST);

		await eventually(async () => (await appliedCount()) - before >= BURST, 300_000, 500);
		const seconds = (Date.now() - started) / 1000;
		expect((await appliedCount()) - before).toBe(BURST);

		const perReplica = (await pg.query(`SELECT "appliedBy", count(*) FROM reports WHERE status = 'applied' GROUP BY "appliedBy" ORDER BY 1`)).rows;
		console.log(
			`[${kind}] ${BURST} reports applied in ${seconds.toFixed(1)} s (${(BURST / seconds).toFixed(0)}/s) with ${victim.name} killed -9 and restarted; applied per replica since the start of this suite: ${JSON.stringify(perReplica)}`
		);

		// Every can ends at the newest report it sent (the simulator's report times strictly increase).
		const levels = (await sys.get("/levels")).body as { canId: string; level: number }[];
		for (const can of simulator().cans) expect(levels.find(l => l.canId === can.id)?.level).toBe(Number(can.level.toFixed(2)));
		expect(((await sys.broker.call<SimulatorStatus>("simulator.status")) as SimulatorStatus).published).toBeGreaterThanOrEqual(BURST);
	}, 600_000);
});

/** Reports that are wrong by construction: not JSON, not an object, no can id, or a bad level. */
const malformedReport = fc.oneof(
	fc.string({ maxLength: 40 }).filter(text => {
		try {
			JSON.parse(text);
			return false;
		} catch {
			return true;
		}
	}),
	fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 10 }), fc.array(fc.integer(), { maxLength: 3 })).map(v => JSON.stringify(v)),
	fc.record({ level: fc.double({ min: 0, max: 100, noNaN: true }) }).map(v => JSON.stringify(v)),
	fc
		.record({ can_id: fc.oneof(fc.constant(""), fc.constant("  "), fc.integer({ max: -1 }), fc.boolean(), fc.object({ maxDepth: 1 })), level: fc.constant(10) })
		.map(v => JSON.stringify(v)),
	fc
		.record({
			can_id: fc.string({ minLength: 1, maxLength: 8 }).filter(id => id.trim().length > 0),
			level: fc.oneof(
				fc.double({ min: 100.0001, noNaN: true, noDefaultInfinity: true }),
				fc.double({ max: -0.0001, noNaN: true, noDefaultInfinity: true }),
				fc.string({ maxLength: 6 }).filter(t => !/^\s*-?\d+(\.\d+)?\s*$/.test(t)),
				fc.constant(null),
				fc.boolean()
			)
		})
		.map(v => JSON.stringify(v))
);

interface DeadLetter {
	reason: string;
	field: string;
	report: unknown;
	receivedAt: string;
}

/** Publishes raw bodies as a plain producer would and reads back `expected` dead letters. */
async function publishAndCollectDeadLetters(kind: DeploymentKind, sys: Deployment, channel: string, bodies: string[], expected: number): Promise<DeadLetter[]> {
	const deadQueue = `${channel}.dead`;
	if (kind === "nats") {
		const nc = await connect({ servers: sys.env.TRANSPORTER });
		const sc = StringCodec();
		try {
			const js = nc.jetstream();
			const jsm = await nc.jetstreamManager();
			const stream = deadQueue.split(".").join("_");
			const first = (await jsm.streams.info(stream)).state.last_seq + 1;
			for (const body of bodies) await js.publish(channel, sc.encode(body));
			await eventually(async () => (await jsm.streams.info(stream)).state.last_seq - first + 1 >= expected, 15_000, 100);
			const letters: DeadLetter[] = [];
			for (let seq = first; letters.length < expected; seq++) letters.push(JSON.parse(sc.decode((await jsm.streams.getMessage(stream, { seq })).data)));
			return letters;
		} finally {
			await nc.close();
		}
	}
	const conn = await amqp.connect(sys.env.TRANSPORTER);
	try {
		const ch = await conn.createConfirmChannel();
		await ch.purgeQueue(deadQueue);
		for (const body of bodies) ch.publish(channel, "", Buffer.from(body), { persistent: true });
		await ch.waitForConfirms();
		await eventually(async () => (await ch.checkQueue(deadQueue)).messageCount >= expected, 15_000, 100);
		const letters: DeadLetter[] = [];
		for (let msg = await ch.get(deadQueue, { noAck: true }); msg; msg = await ch.get(deadQueue, { noAck: true }))
			letters.push(JSON.parse(msg.content.toString()));
		return letters;
	} finally {
		await conn.close();
	}
}
