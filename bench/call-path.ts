/**
 * What one local action call costs in the system's broker, without HTTP or a bus: the gateway's
 * shape, an action that calls another (`rest.rest` → `trashReport.levels`), 16 at a time, CPU
 * µs per pair. Variants, alternated round by round in one process (this machine's speed drifts):
 *   system               moleculer.config.ts's options compiled (dist/), as every service process runs
 *   Moleculer's Metrics and Timeout   the same, with Moleculer's own middlewares for those two
 *   metrics off          the system's options with `metrics.enabled: false`
 *
 *   npx tsx bench/call-path.ts [--pairs 100000] [--rounds 5]
 */
import { parseArgs } from "node:util";
import { INTERNAL_MIDDLEWARES, ServiceBroker } from "moleculer";
import type { BrokerOptions } from "moleculer";
import { ensureBuilt } from "../harness/deployment";

// the compiled options, as `npm start` runs them (tsx would wrap every closure made per call)
ensureBuilt();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const brokerOptions: (transporter: string | null) => BrokerOptions = require("../dist/moleculer.config").default;

const { values: args } = parseArgs({ options: { pairs: { type: "string", default: "100000" }, rounds: { type: "string", default: "5" } } });
const PAIRS = Number(args.pairs);
const CONCURRENCY = 16;

function variants(): Record<string, BrokerOptions> {
	// the Prometheus reporter as configured, on a free port each
	const options = brokerOptions(null);
	const system: BrokerOptions = { ...options, metrics: { enabled: true, reporter: [{ type: "Prometheus" as const, options: { port: 0 } }] } };
	const middlewares = system.middlewares ?? [];
	// the system's own middlewares come first, then Moleculer's list and the HotReload hook
	const own = middlewares.slice(0, middlewares.length - INTERNAL_MIDDLEWARES.length - 1);
	return {
		system,
		"Moleculer's Metrics and Timeout": { ...system, internalMiddlewares: true, middlewares: own },
		"metrics off": { ...system, metrics: { enabled: false } }
	};
}

async function start(options: BrokerOptions) {
	const broker = new ServiceBroker({ ...options, logger: false });
	const answer = Object.freeze([{ canId: "301", level: 42 }]);
	broker.createService({ name: "trashReport", actions: { levels: { params: { min: { type: "number", optional: true } }, handler: () => answer } } });
	const rest = broker.createService({
		name: "rest",
		actions: { rest: { handler: ctx => ctx.call("trashReport.levels", {}, { retries: 2, timeout: 2_500 }) } }
	});
	await broker.start();
	return { broker, call: () => rest.actions.rest({}) };
}

/** CPU µs per pair over PAIRS pairs, CONCURRENCY in flight. */
async function round(call: () => Promise<unknown>) {
	const before = process.cpuUsage();
	for (let done = 0; done < PAIRS; done += CONCURRENCY) await Promise.all(Array.from({ length: CONCURRENCY }, call));
	const used = process.cpuUsage(before);
	return (used.user + used.system) / PAIRS;
}

async function main() {
	const running = await Promise.all(Object.entries(variants()).map(async ([name, options]) => ({ name, ...(await start(options)), us: [] as number[] })));
	try {
		for (const v of running) await round(v.call); // warm-up
		for (let r = 0; r < Number(args.rounds); r++) for (const v of running) v.us.push(await round(v.call));
	} finally {
		await Promise.all(running.map(v => v.broker.stop()));
	}
	const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
	const base = median(running[0].us);
	console.log(`| variant | CPU µs per call pair (median of ${args.rounds}) | × system |\n|---|---:|---:|`);
	for (const v of running) console.log(`| ${v.name} | ${median(v.us).toFixed(2)} | ${(median(v.us) / base).toFixed(2)} |`);
}

void main();
