/**
 * The real-server helpers of harness/servers.ts, and how to use them: each server on free
 * loopback ports with a private temp dir; kill() = crash (data kept), stop() = graceful (temp
 * dir removed unless keepData), start() = again on the same port.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { promisify } from "node:util";
import amqp from "amqplib";
import { connect, StringCodec } from "nats";
import { startNats, startNatsCluster, startPostgres, startRabbit } from "../../harness/servers";
import type { NatsCluster, NatsServer, PostgresServer, RunningServer } from "../../harness/servers";

jest.setTimeout(60_000);

const run = promisify(execFile);

function canConnect(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const socket = net.connect({ host: "127.0.0.1", port });
		socket.once("connect", () => (socket.destroy(), resolve(true)));
		socket.once("error", () => resolve(false));
	});
}

describe("test servers", () => {
	let nats: NatsServer;
	let rabbit: RunningServer;
	let pg: PostgresServer;
	let cluster: NatsCluster;

	// In parallel: RabbitMQ dominates (about 5 s), the others take well under a second.
	beforeAll(async () => {
		[nats, rabbit, pg, cluster] = await Promise.all([startNats({ jetstream: true }), startRabbit(), startPostgres(), startNatsCluster(2)]);
	});

	afterAll(async () => {
		await Promise.all([nats, rabbit, pg, cluster].map(s => s?.stop()));
	});

	it("NATS: a JetStream stream survives kill() + start() on the same port", async () => {
		let nc = await connect({ servers: nats.url });
		await (await nc.jetstreamManager()).streams.add({ name: "levels", subjects: ["levels.>"] });
		await nc.close();

		await nats.kill();
		expect(await canConnect(nats.port)).toBe(false);
		await nats.start();

		nc = await connect({ servers: nats.url });
		const info = await (await nc.jetstreamManager()).streams.info("levels");
		expect(info.config.subjects).toEqual(["levels.>"]);
		await nc.close();
		expect((await fetch(`${nats.monitorUrl}/healthz`)).status).toBe(200);
	});

	it("RabbitMQ: a persistent message survives stop({ keepData: true }) + start() on the same port", async () => {
		let conn = await amqp.connect(rabbit.url);
		let ch = await conn.createChannel();
		await ch.assertQueue("levels", { durable: true });
		ch.sendToQueue("levels", Buffer.from("42"), { persistent: true });
		await ch.close(); // waits for the publish to be handled
		await conn.close();

		await rabbit.stop({ keepData: true });
		expect(await canConnect(rabbit.port)).toBe(false);
		await rabbit.start();

		conn = await amqp.connect(rabbit.url);
		ch = await conn.createChannel();
		expect((await ch.checkQueue("levels")).messageCount).toBe(1);
		await conn.close();
	});

	it("PostgreSQL: createDatabase returns a URL that psql can use", async () => {
		const url = await pg.createDatabase("movies_test");
		expect(url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/movies_test`);
		const { stdout } = await run("psql", ["-X", "-At", "-d", url, "-c", "SELECT 1"]);
		expect(stdout.trim()).toBe("1");
	});

	it("NATS cluster: every node accepts connections and routes messages to the others", async () => {
		expect(cluster.urls).toHaveLength(2);
		for (const node of cluster.nodes) expect(await canConnect(node.port)).toBe(true);

		const [a, b] = await Promise.all(cluster.urls.map(url => connect({ servers: url })));
		const sc = StringCodec();
		const received = new Promise<string>(resolve => {
			const sub = b.subscribe("ping");
			void (async () => {
				for await (const m of sub) return resolve(sc.decode(m.data));
			})();
		});
		await b.flush();
		// interest crosses the route asynchronously: publish until node b's subscriber sees one
		const timer = setInterval(() => a.publish("ping", sc.encode("hello")), 50);
		try {
			expect(await received).toBe("hello");
		} finally {
			clearInterval(timer);
			await Promise.all([a.close(), b.close()]);
		}
	});

	it("stop() removes the temp dir; start() afterwards is a fresh server on the same port", async () => {
		const dir = pg.dir;
		await pg.stop();
		expect(fs.existsSync(dir)).toBe(false);
		await pg.start();
		const { stdout } = await run("psql", ["-X", "-At", "-d", `${pg.url}/postgres`, "-c", "SELECT count(*) FROM pg_database WHERE datname = 'movies_test'"]);
		expect(stdout.trim()).toBe("0");
	});

	// Only when jest's globalSetup (test/support/global-setup.ts) ran.
	(process.env.TEST_NATS_URL ? it : it.skip)("global setup exports reachable TEST_NATS_URL, TEST_AMQP_URL, TEST_PG_URL", async () => {
		for (const name of ["TEST_NATS_URL", "TEST_AMQP_URL", "TEST_PG_URL"]) {
			const url = process.env[name];
			if (!url) continue; // TEST_SERVERS may have picked only some
			expect(await canConnect(Number(new URL(url).port))).toBe(true);
		}
	});
});
