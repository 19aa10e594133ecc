/**
 * Where the CPU time of a service process goes, from the `.cpuprofile` files that
 * `npm run bench -- --profile <dir>` makes the service processes write (node --cpu-prof):
 * self time per function and per area (HTTP, gateway, broker, serializer, transporter, store…).
 *
 *   npx tsx bench/profile.ts <dir or .cpuprofile files…> [--top 15]
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

interface Node {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface Profile {
	nodes: Node[];
	samples: number[];
	timeDeltas: number[];
	startTime: number;
	endTime: number;
}

/** Areas by where the code lives; the first match wins. */
const AREAS: [string, RegExp][] = [
	["gateway (moleculer-web)", /node_modules\/moleculer-web\//],
	["serializer", /moleculer\/src\/serializers\//],
	["transit / packets", /moleculer\/src\/(transit|packets)\.js/],
	["transporter (moleculer)", /moleculer\/src\/transporters\//],
	["nats client", /node_modules\/nats\//],
	["amqp client", /node_modules\/amqplib\//],
	["context / call / middlewares", /moleculer\/src\/(context|service-broker|middleware|middlewares\/|registry\/|strategies\/|service\.js)/],
	["metrics", /moleculer\/src\/metrics\//],
	["logging", /moleculer\/src\/loggers\//],
	["validator", /fastest-validator\//],
	["store (sequelize, pg, nedb)", /node_modules\/(sequelize|pg|pg-protocol|pg-pool|@seald-io|moleculer-db)/],
	["channels", /@moleculer\/channels\//],
	// (the sources, or their build in dist/ that the service processes run)
	["our code", /^(?!.*node_modules).*\/(services|lib|mixins|middlewares)\/.+\.[jt]s$/],
	["other packages", /node_modules\//],
	["node: http / net / streams", /^node:(_http|http|net|internal\/(streams|http|net|stream_base|js_stream))/],
	["node: other", /^node:/],
	["garbage collector", /^\(garbage collector\)$/],
	["idle / program", /^\((idle|program|root)\)$/]
];

function areaOf(frame: Node["callFrame"]): string {
	const key = frame.url || `(${frame.functionName.replace(/[()]/g, "")})`;
	return AREAS.find(([, re]) => re.test(key))?.[0] ?? "v8 / native";
}

export function summarize(file: string, top = 15) {
	const p = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
	const byId = new Map(p.nodes.map(n => [n.id, n]));
	const self = new Map<number, number>();
	p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
	let total = 0;
	let idle = 0;
	const fns = new Map<string, number>();
	const areas = new Map<string, number>();
	for (const [id, us] of self) {
		const f = byId.get(id)!.callFrame;
		if (f.functionName === "(idle)") {
			idle += us;
			continue;
		}
		total += us;
		const where = f.url
			? `${f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(services|lib|mixins|middlewares)\//, "$1/")}:${f.lineNumber + 1}`
			: "";
		const name = `${f.functionName || "(anonymous)"} ${where}`.trim();
		fns.set(name, (fns.get(name) ?? 0) + us);
		const area = areaOf(f);
		areas.set(area, (areas.get(area) ?? 0) + us);
	}
	const services = [...new Set(p.nodes.map(n => /services\/(\w+)\.service\.[jt]s/.exec(n.callFrame.url)?.[1]).filter(Boolean))];
	const pct = (us: number) => `${((us / total) * 100).toFixed(1)} %`.padStart(7);
	const wall = (p.endTime - p.startTime) / 1e6;
	const lines = [
		`## ${path.basename(file)}: ${services.join(", ") || "no service code"}`,
		`busy ${(total / 1e6).toFixed(1)} s of ${wall.toFixed(1)} s (idle ${(idle / 1e6).toFixed(1)} s)`,
		"",
		"by area (self time):",
		...[...areas].sort((a, b) => b[1] - a[1]).map(([a, us]) => `${pct(us)}  ${a}`),
		"",
		`top ${top} functions (self time):`,
		...[...fns]
			.sort((a, b) => b[1] - a[1])
			.slice(0, top)
			.map(([f, us]) => `${pct(us)}  ${f}`)
	];
	return lines.join("\n");
}

if (require.main === module) {
	const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "15" } } });
	const files = positionals.flatMap(p =>
		fs.statSync(p).isDirectory()
			? fs
					.readdirSync(p)
					.filter(f => f.endsWith(".cpuprofile"))
					.map(f => path.join(p, f))
			: [p]
	);
	for (const f of files) console.log(summarize(f, Number(values.top)) + "\n");
}
