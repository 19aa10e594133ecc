/**
 * When the bus itself fails: a NATS cluster node dies under load, RabbitMQ restarts, or the
 * configured bus is wrong. Services reconnect by themselves; nothing hangs or spins.
 */
import { contractHolds, startDeployment, startProcess, steadyLoad } from "../../harness/deployment";
import type { Deployment } from "../../harness/deployment";
import { Client } from "pg";
import { freePort, startNats, startNatsCluster, startRabbit } from "../../harness/servers";
import type { NatsCluster, RunningServer } from "../../harness/servers";
import { eventually } from "../../harness/system";

describe("a 3-node NATS cluster losing a node under load", () => {
	let cluster: NatsCluster;
	let sys: Deployment;
	beforeAll(async () => {
		// Three nodes: JetStream (the durable channel) needs a majority, and the stream is kept on all three.
		cluster = await startNatsCluster(3, { jetstream: true });
		sys = await startDeployment("nats", { transporter: cluster.urls.join(","), env: { STREAM_REPLICAS: "3" } });
	}, 90_000);
	afterAll(async () => {
		await sys?.stop();
		await cluster?.stop();
	});

	it("keeps serving and ingesting; every client reconnects to the surviving nodes in under 2 s", async () => {
		const [doomed, ...survivors] = cluster.nodes;
		const connz = async (node: (typeof survivors)[number]) =>
			((await (await fetch(`${node.monitorUrl}/connz`)).json()) as { num_connections: number }).num_connections;
		const onSurvivors = async () => (await Promise.all(survivors.map(connz))).reduce((a, b) => a + b, 0);
		// every process of the deployment and the test's own node hold two connections each:
		// the transporter's and the channel adapter's
		const clients = 2 * (sys.procs.length + 1);
		expect((await connz(doomed)) + (await onSurvivors())).toBe(clients);

		const load = steadyLoad(sys);
		await new Promise(r => setTimeout(r, 1_000));
		const killedAt = Date.now();
		await doomed.kill();
		await eventually(async () => (await onSurvivors()) === clients, 10_000, 50);
		const reconnectMs = Date.now() - killedAt;
		await new Promise(r => setTimeout(r, 2_000));
		const result = await load.stop();
		console.log(
			`[nats cluster] node killed under load: all ${clients} connections on the survivors after ${reconnectMs} ms; ${result.failed} of ${result.total} requests failed`
		);
		expect(reconnectMs).toBeLessThan(2_000);
		expect(result.ok).toBeGreaterThan(result.failed);
		await contractHolds(sys);
	}, 60_000);
});

describe("RabbitMQ stopped and started again on the same port", () => {
	let rabbit: RunningServer;
	let sys: Deployment;
	beforeAll(async () => {
		rabbit = await startRabbit();
		sys = await startDeployment("amqp", { transporter: rabbit.url });
	}, 120_000);
	afterAll(async () => {
		await sys?.stop();
		await rabbit?.stop();
	});

	it("every service reconnects by itself and the contract holds again; no process exited", async () => {
		await contractHolds(sys);
		await rabbit.stop({ keepData: true });
		const downAt = Date.now();
		await rabbit.start();
		const upMs = Date.now() - downAt;
		await eventually(async () => (await sys.get("/health/ready")).status === 200, 60_000, 250);
		const expected = new Map<string, number>();
		for (const p of sys.procs) for (const s of p.services) expected.set(s, (expected.get(s) ?? 0) + 1);
		await eventually(
			async () => {
				const workers = (await sys.get("/workers")).body as { type: string; instances: number }[];
				return [...expected].every(([type, n]) => workers.find(w => w.type === type)?.instances === n);
			},
			30_000,
			250
		);
		console.log(`[amqp] RabbitMQ restart took ${upMs} ms; the deployment was ready again ${Date.now() - downAt} ms after the stop`);
		await contractHolds(sys);
		for (const proc of sys.procs) expect(proc.child.exitCode).toBeNull();
	}, 120_000);
});

describe("a wrong TRANSPORTER", () => {
	/** Runs `npm start`'s process on `transporter` for `ms` (or until it exits): its output and exit code. */
	async function runFor(transporter: string, ms: number): Promise<{ output: string; code: number | null }> {
		const proc = startProcess({ TRANSPORTER: transporter, SERVICES: "pilot", METRICS: "false", LOG_LEVEL: "info" });
		const timer = setTimeout(() => proc.child.kill("SIGKILL"), ms);
		const code = await proc.exited;
		clearTimeout(timer);
		return { output: proc.output, code };
	}

	it("unreachable: says which bus (password masked) and retries calmly, without a tight loop", async () => {
		const port = await freePort();
		const { output, code } = await runFor(`amqp://trash:s3cret@127.0.0.1:${port}`, 8_000);
		expect(code).toBeNull(); // still trying when killed: it did not crash
		expect(output).toContain(`amqp://trash:***@127.0.0.1:${port}`);
		expect(output).not.toContain("s3cret");
		const attempts = (output.match(/AMQP failed to connect|Connection is failed/g) ?? []).length;
		console.log(`[bad TRANSPORTER] ${attempts} connection attempts in 8 s`);
		expect(attempts).toBeGreaterThanOrEqual(1);
		expect(attempts).toBeLessThanOrEqual(4);
	}, 20_000);

	it("unreachable NATS: same, with the URL in the log", async () => {
		const port = await freePort();
		const { output, code } = await runFor(`nats://127.0.0.1:${port}`, 8_000);
		expect(code).toBeNull();
		expect(output).toContain(`nats://127.0.0.1:${port}`);
		const attempts = (output.match(/NATS error|Connection is failed/g) ?? []).length;
		expect(attempts).toBeGreaterThanOrEqual(1);
		expect(attempts).toBeLessThanOrEqual(8);
	}, 20_000);

	it("malformed: exits non-zero at once with a clear message", async () => {
		const { output, code } = await runFor("nats//localhost", 8_000);
		expect(code).toBe(1);
		expect(output).toContain('Unsupported TRANSPORTER "nats//localhost"');
	}, 20_000);
});

describe("NATS (JetStream on file storage) restarted in the middle of a burst", () => {
	let nats: RunningServer;
	let sys: Deployment;
	beforeAll(async () => {
		nats = await startNats({ jetstream: true });
		sys = await startDeployment("nats", {
			transporter: nats.url,
			layout: [
				["gateway", ["rest", "systemManager", "pilot", "db"]],
				["trashReport-1", ["trashReport"]]
			]
		});
	}, 90_000);
	afterAll(async () => {
		await sys?.stop();
		await nats?.stop();
	});

	it("applies every report whose publish JetStream confirmed", async () => {
		const total = 4_000;
		const confirmed: string[] = [];
		let failed = 0;
		let next = 0;
		let restarted: Promise<void> | null = null;
		const publisher = async () => {
			while (next < total) {
				const i = next++;
				const id = `restart-${i}`;
				try {
					await sys.broker.sendToChannel("trash-level", { id, can_id: String(500 + (i % 20)), level: String(i % 100), reportedAt: new Date().toISOString() });
					confirmed.push(id);
				} catch {
					failed++;
				}
				if (i === 1_000) restarted = nats.stop({ keepData: true }).then(() => nats.start());
			}
		};
		await Promise.all(Array.from({ length: 20 }, publisher));
		await restarted;

		const pg = new Client({ connectionString: sys.env.DB_URI });
		await pg.connect();
		try {
			const applied = async () =>
				Number((await pg.query(`SELECT count(*) FROM reports WHERE status = 'applied' AND "_id" = ANY($1)`, [confirmed])).rows[0].count);
			await eventually(async () => (await applied()) === confirmed.length, 60_000, 250);
			console.log(
				`[nats restart] ${confirmed.length} of ${total} publishes confirmed (${failed} failed while the server was down): all ${confirmed.length} applied`
			);
		} finally {
			await pg.end();
		}
		expect(confirmed.length).toBeGreaterThan(1_000);
		await contractHolds(sys);
	}, 120_000);
});
