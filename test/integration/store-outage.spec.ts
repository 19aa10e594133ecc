/**
 * PostgreSQL going away under the ingest path, on NATS and on RabbitMQ: reports that reach the bus
 * while the store is down are held, unacked, by the consumers (which probe the store, once per
 * process) and applied exactly once when it returns. An outage spends none of a report's
 * deliveries, so however long it lasts nothing is dead-lettered for it; no process exits, and
 * every can ends at its newest report. Meanwhile the API answers 503 STORE_UNAVAILABLE.
 * A report the store refuses while it answers fails alone, not the batch it arrived in.
 */
import amqp from "amqplib";
import { connect } from "nats";
import { Client } from "pg";
import type { ServiceSchema } from "moleculer";
import Simulator from "../../services/simulator.service";
import { startDeployment } from "../../harness/deployment";
import type { Deployment, DeploymentKind } from "../../harness/deployment";
import { startPostgres } from "../../harness/servers";
import type { PostgresServer } from "../../harness/servers";
import { eventually } from "../../harness/system";

const KINDS = (process.env.DEPLOYMENTS ?? "nats,amqp").split(",").filter(k => k !== "embedded") as DeploymentKind[];
/** Longer than a consumer's own retries of one batch (RETRIES.storeWrite: ~11 s), so the bus redelivers too. */
const OUTAGE_MS = 20_000;
const REPORTS = 500;
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe.each(KINDS)("on %s", kind => {
	// a PostgreSQL of this suite's own: stopping the shared one would fail every other suite's store
	let pg: PostgresServer;
	let sys: Deployment;
	let dbUri: string;

	beforeAll(async () => {
		pg = await startPostgres();
		dbUri = await pg.createDatabase(`outage_${kind}`);
		sys = await startDeployment(kind, {
			layout: [
				["gateway", ["rest", "systemManager", "pilot", "db"]],
				["trashReport-1", ["trashReport"]],
				["trashReport-2", ["trashReport"]]
			],
			env: { DB_URI: dbUri }
		});
		await sys.broker.createService({ name: "simulator", mixins: [Simulator], settings: { cans: 10, intervalMs: 4_000, autostart: false } } as ServiceSchema);
		await sys.broker.waitForServices("simulator");
	}, 120_000);
	afterAll(async () => {
		await sys?.stop();
		await pg?.stop();
	});

	/** What the store says, read with a connection of the test's own (none while it is down). */
	async function applied(): Promise<number> {
		const client = new Client({ connectionString: dbUri });
		await client.connect();
		try {
			return Number((await client.query(`SELECT count(*) FROM reports WHERE status = 'applied'`)).rows[0].count);
		} finally {
			await client.end();
		}
	}

	/** JetStream's count of deliveries to the consumers' group, and the last stream sequence delivered. */
	async function deliveries(): Promise<{ deliveries: number; lastDelivered: number }> {
		const nc = await connect({ servers: sys.env.TRANSPORTER });
		try {
			const { delivered } = await (await nc.jetstreamManager()).consumers.info(`${sys.env.NAMESPACE}_trash-level`, "trashReport");
			return { deliveries: delivered.consumer_seq, lastDelivered: delivered.stream_seq };
		} finally {
			await nc.close();
		}
	}

	/** Reports moved to the dead letters so far. */
	async function deadLetters(): Promise<number> {
		const queue = `${sys.env.NAMESPACE}.trash-level.dead`;
		if (kind === "nats") {
			const nc = await connect({ servers: sys.env.TRANSPORTER });
			try {
				const info = await (await nc.jetstreamManager()).streams.info(queue.split(".").join("_"));
				return info.state.messages;
			} finally {
				await nc.close();
			}
		}
		const conn = await amqp.connect(sys.env.TRANSPORTER);
		try {
			return (await (await conn.createChannel()).checkQueue(queue)).messageCount;
		} finally {
			await conn.close();
		}
	}

	it(`${REPORTS} reports sent while PostgreSQL is down for ${OUTAGE_MS / 1000} s are all applied once it is back; none dead-lettered`, async () => {
		const simulator = sys.broker.getLocalService("simulator") as unknown as { cans: { id: string; level: number }[] };
		// the cans registered and one report each applied first: the outage then meets a running consumer
		await sys.broker.call("simulator.burst", { count: 10 });
		await eventually(async () => (await applied()) === 10, 30_000, 200);
		const deadBefore = await deadLetters();
		// counted from here: the 10 reports above were delivered already
		const deliveredBefore = kind === "nats" ? await deliveries() : null;

		await pg.stop({ keepData: true });
		const down = Date.now();
		expect(await sys.broker.call("simulator.burst", { count: REPORTS })).toMatchObject({ published: REPORTS });
		// across the bus too, a request that needs the store is told to come back (not the driver's 500)
		for (const res of [await sys.get("/levels"), await sys.request("POST", "/levels", { can_id: "outage", level: "1" })])
			expect({ status: res.status, type: res.body.type }).toEqual({ status: 503, type: "STORE_UNAVAILABLE" });
		await sleep(OUTAGE_MS - (Date.now() - down));
		await pg.start();
		const back = Date.now();

		await eventually(async () => (await applied()) === 10 + REPORTS, 90_000, 500);
		console.log(`[${kind}] ${REPORTS} reports sent during a ${OUTAGE_MS / 1000} s PostgreSQL outage: all applied ${Date.now() - back} ms after it was back`);
		expect(await deadLetters()).toBe(deadBefore);
		// the outage spent no delivery: each report was delivered once and held until the store answered
		if (deliveredBefore) {
			const after = await deliveries();
			expect({ deliveries: after.deliveries - deliveredBefore.deliveries, reports: after.lastDelivered - deliveredBefore.lastDelivered }).toEqual({
				deliveries: REPORTS,
				reports: REPORTS
			});
		}
		// exactly once in effect: one status row and one history point per report, every can at its newest
		const client = new Client({ connectionString: dbUri });
		await client.connect();
		try {
			expect(Number((await client.query(`SELECT count(*) FROM history`)).rows[0].count)).toBe(10 + REPORTS);
		} finally {
			await client.end();
		}
		const levels = (await sys.get("/levels")).body as { canId: string; level: number }[];
		for (const can of simulator.cans) expect(levels.find(l => l.canId === can.id)?.level).toBe(Number(can.level.toFixed(2)));
		for (const proc of sys.procs) expect(proc.child.exitCode).toBeNull();
	}, 180_000);

	it("a report PostgreSQL refuses while it answers fails alone: the reports batched with it are applied at once", async () => {
		// the store's refusal of one can's reports, as a constraint would refuse a value the checks let through
		const client = new Client({ connectionString: dbUri });
		await client.connect();
		await client.query(`ALTER TABLE history ADD CONSTRAINT no_poison CHECK ("canId" <> 'poison')`);
		try {
			const before = await applied();
			const deadBefore = await deadLetters();
			const good = (i: number) => ({ id: `mate-${i}`, can_id: `mate-${i % 20}`, level: String(i % 100) });
			// the poison in the middle of a burst: it reaches a consumer in the same batch as its neighbours
			await Promise.all([
				...Array.from({ length: 250 }, (_, i) => sys.broker.sendToChannel("trash-level", good(i))),
				sys.broker.sendToChannel("trash-level", { id: "poison-1", can_id: "poison", level: "50" }),
				...Array.from({ length: 250 }, (_, i) => sys.broker.sendToChannel("trash-level", good(250 + i)))
			]);
			// before, its batch-mates retried with it, together, until all were dead-lettered (~2 min)
			await eventually(async () => (await applied()) === before + 500, 15_000, 200);
			const statuses = await client.query(`SELECT status, count(*)::int AS n FROM reports WHERE _id LIKE 'mate-%' OR _id = 'poison-1' GROUP BY status`);
			expect(statuses.rows).toEqual([{ status: "applied", n: 500 }]);
			expect(await deadLetters()).toBe(deadBefore);
			for (const proc of sys.procs) expect(proc.child.exitCode).toBeNull();
		} finally {
			await client.query(`ALTER TABLE history DROP CONSTRAINT no_poison`);
			await client.end();
		}
	}, 60_000);
});
