/**
 * The framework's floor (rows 7e and 8d of `npm run bench`): Moleculer and moleculer-web with
 * their defaults, one action per path answering the same JSON as bench/plain-http.ts. None of
 * this project's broker options, middlewares, metrics, validation or auth: what a request costs
 * through the framework before anything of ours, so that rows 7b and 8b can be read against what
 * the framework itself leaves.
 *
 *   node --import tsx bench/bare-gateway.ts <port> <bodies.json>             (7e: the actions in the gateway's process)
 *   node --import tsx bench/bare-gateway.ts <port> <bodies.json> <natsUrl>   (8d: the gateway, calling them over NATS…)
 *   node --import tsx bench/bare-gateway.ts answers <bodies.json> <natsUrl>  (…in this process, Moleculer's own NATS transporter)
 *
 * bodies: {"/levels": [...], …}. Sends an IPC message once it serves.
 */
import fs from "node:fs";
import { ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";

const [port, file, natsUrl] = process.argv.slice(2);
const bodies = Object.entries(JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>);

const broker = new ServiceBroker({ logger: false, transporter: natsUrl ? (natsUrl as "NATS") : null });
const answers = () =>
	broker.createService({
		name: "answers",
		// one action per path, answering its body as a handler that reads it from memory would
		actions: Object.fromEntries(bodies.map(([, body], i) => [`a${i}`, () => body]))
	});
if (port === "answers") answers();
else {
	if (!natsUrl) answers();
	broker.createService({
		name: "api",
		mixins: [ApiGateway],
		settings: {
			port: Number(port),
			ip: "127.0.0.1",
			routes: [{ path: "/", mappingPolicy: "restrict", bodyParsers: false, aliases: Object.fromEntries(bodies.map(([p], i) => [`GET ${p}`, `answers.a${i}`])) }]
		}
	});
}
void broker
	.start()
	.then(() => (port === "answers" ? undefined : broker.waitForServices("answers", 30_000)))
	.then(() => process.send?.("listening"));
process.on("SIGTERM", () => void broker.stop().then(() => process.exit(0)));
