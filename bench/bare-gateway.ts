/**
 * The framework's floor (row 7e of `npm run bench`): Moleculer and moleculer-web with their
 * defaults, one local action per path answering the same JSON as bench/plain-http.ts. None of
 * this project's broker options, middlewares, metrics, validation or auth: what a request costs
 * through the framework before anything of ours, so that row 7b's ratio to node:http can be read
 * against what the framework itself leaves.
 *
 *   node --import tsx bench/bare-gateway.ts <port> <bodies.json>   (bodies: {"/levels": [...], …})
 */
import fs from "node:fs";
import { ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";

const [port, file] = process.argv.slice(2);
const bodies = Object.entries(JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>);

const broker = new ServiceBroker({ logger: false });
broker.createService({
	name: "answers",
	// one action per path, answering its body as a handler that reads it from memory would
	actions: Object.fromEntries(bodies.map(([, body], i) => [`a${i}`, () => body]))
});
broker.createService({
	name: "api",
	mixins: [ApiGateway],
	settings: {
		port: Number(port),
		ip: "127.0.0.1",
		routes: [{ path: "/", mappingPolicy: "restrict", bodyParsers: false, aliases: Object.fromEntries(bodies.map(([p], i) => [`GET ${p}`, `answers.a${i}`])) }]
	}
});
void broker.start().then(() => process.send?.("listening"));
process.on("SIGTERM", () => void broker.stop().then(() => process.exit(0)));
