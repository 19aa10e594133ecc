/**
 * jest `globalSetup`: starts one NATS (JetStream), one RabbitMQ and one PostgreSQL for the whole
 * run, in parallel, and hands their URLs to the tests (workers inherit this process's env):
 *   TEST_NATS_URL  nats://127.0.0.1:<port>
 *   TEST_AMQP_URL  amqp://guest:guest@127.0.0.1:<port>
 *   TEST_PG_URL    postgres://postgres@127.0.0.1:<port>   (server only: add /<db> via createDatabase or psql)
 * TEST_SERVERS=none starts nothing; TEST_SERVERS=nats,rabbit,postgres picks some. A URL already
 * set in the env (e.g. a CI service container) is kept and that server is not started.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { startNats, startPostgres, startRabbit } from "../../harness/servers";
import type { RunningServer } from "../../harness/servers";

const SERVERS = {
	nats: { env: "TEST_NATS_URL", start: () => startNats({ jetstream: true }) },
	rabbit: { env: "TEST_AMQP_URL", start: () => startRabbit() },
	postgres: { env: "TEST_PG_URL", start: () => startPostgres() }
} satisfies Record<string, { env: string; start(): Promise<RunningServer> }>;

type Kind = keyof typeof SERVERS;

/** Handles for global-teardown.ts (globalSetup and globalTeardown share this process and its globals). */
const HANDLES = Symbol.for("trash-bus.test-servers");
type WithHandles = typeof globalThis & { [HANDLES]?: RunningServer[] };

export function takeGlobalServers(): RunningServer[] {
	const g = globalThis as WithHandles;
	const servers = g[HANDLES] ?? [];
	delete g[HANDLES];
	return servers;
}

export default async function globalSetup(): Promise<void> {
	const wanted = (process.env.TEST_SERVERS ?? "all").trim();
	if (wanted === "none") return;
	const kinds = (Object.keys(SERVERS) as Kind[]).filter(
		k =>
			wanted === "all" ||
			wanted
				.split(",")
				.map(s => s.trim())
				.includes(k)
	);
	const todo = kinds.filter(k => !process.env[SERVERS[k].env]);
	// `npm test` on a fresh machine of this kind: install what is missing (a no-op when all are there).
	if (todo.length > 0) execFileSync("bash", [path.resolve(__dirname, "../../scripts/install-servers.sh")], { stdio: "inherit" });
	const results = await Promise.allSettled(todo.map(k => SERVERS[k].start()));
	const started = results.flatMap(r => (r.status === "fulfilled" ? [r.value] : []));
	(globalThis as WithHandles)[HANDLES] = started;
	const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
	if (failed) {
		// jest does not run globalTeardown when globalSetup throws
		await Promise.all(takeGlobalServers().map(s => s.stop()));
		throw failed.reason;
	}
	todo.forEach((k, i) => {
		process.env[SERVERS[k].env] = started[i].url;
	});
}
