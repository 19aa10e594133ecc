/**
 * The floor of rows 2a and 2b (rows 2c, 2d of `npm run bench`): the same hops with plain `nats`
 * clients and `node:http`, no framework. A gateway answers GET /levels by a request to `answer`
 * (one hop, as rest → trashReport) and GET /movies by a request to `relay`, which asks `answer`
 * (two hops, as rest → pilot → db). Every process parses what it receives and serializes what it
 * sends, as a service would; nothing else: no contexts, validation, metrics, logs or retries.
 *
 *   node --import tsx bench/raw-hops.ts gateway <port> <natsUrl>
 *   node --import tsx bench/raw-hops.ts relay <natsUrl>
 *   node --import tsx bench/raw-hops.ts answer <natsUrl> <bodies.json>   (bodies: {"/levels": [...], …})
 *
 * Each sends an IPC message once it serves.
 */
import fs from "node:fs";
import http from "node:http";
import { connect, type Msg, type NatsConnection } from "nats";

const [role, ...rest] = process.argv.slice(2);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const encode = (value: unknown) => encoder.encode(JSON.stringify(value));
const decode = (msg: Msg) => JSON.parse(decoder.decode(msg.data)) as unknown;

// Sends wait for the end of the event-loop turn, so that the messages of one turn leave in one
// socket write, as lib/bus/nats-transporter.ts sends Moleculer's packets: nats.js alone writes at
// every microtask checkpoint, one write per message under load, which costs more than the
// framework (a floor without it measured slower than rows 2a and 2b).
let queued: (() => void)[] = [];
function send(publish: () => void) {
	if (queued.push(publish) === 1)
		setImmediate(() => {
			const now = queued;
			queued = [];
			for (const p of now) p();
		});
}
const request = (nc: NatsConnection, subject: string, data: Uint8Array) =>
	new Promise<Msg>((resolve, reject) => send(() => nc.request(subject, data, { timeout: 10_000 }).then(resolve, reject)));

async function serve() {
	if (role === "gateway") {
		const [port, natsUrl] = rest;
		const nc = await connect({ servers: natsUrl });
		const subjects: Record<string, string> = { "/levels": "floor.answer", "/movies": "floor.relay" };
		http
			.createServer((req, res) => {
				const path = req.url?.split("?")[0] ?? "/";
				const subject = subjects[path];
				if (!subject) return void res.writeHead(404).end();
				request(nc, subject, encode({ path })).then(
					reply => {
						const body = JSON.stringify(decode(reply));
						res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) }).end(body);
					},
					() => void res.writeHead(503).end()
				);
			})
			.listen(Number(port), "127.0.0.1", () => process.send?.("serving"));
	} else if (role === "relay") {
		const nc = await connect({ servers: rest[0] });
		nc.subscribe("floor.relay", {
			callback: (_err, msg) =>
				void request(nc, "floor.answer", encode(decode(msg))).then(
					reply => send(() => msg.respond(encode(decode(reply)))),
					() => send(() => msg.respond(encode(null)))
				)
		});
		await nc.flush();
		process.send?.("serving");
	} else if (role === "answer") {
		const [natsUrl, file] = rest;
		const bodies = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
		const nc = await connect({ servers: natsUrl });
		nc.subscribe("floor.answer", { callback: (_err, msg) => send(() => msg.respond(encode(bodies[(decode(msg) as { path: string }).path] ?? null))) });
		await nc.flush();
		process.send?.("serving");
	} else throw new Error(`unknown role ${role}: gateway, relay or answer`);
}

void serve();
