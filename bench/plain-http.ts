/**
 * The floor the gateway is compared with (rows 0a, 0b of `npm run bench`): plain `node:http`
 * answering fixed JSON bodies, `JSON.stringify`d per request as a handler would, with the headers
 * moleculer-web sends. No framework, no validation, no metrics: what Node itself costs per request.
 *
 *   node --import tsx bench/plain-http.ts <port> <bodies.json>   (bodies: {"/levels": [...], …})
 */
import fs from "node:fs";
import http from "node:http";

const [port, file] = process.argv.slice(2);
const bodies = new Map(Object.entries(JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>));

http
	.createServer((req, res) => {
		const path = req.url?.split("?")[0] ?? "/";
		if (!bodies.has(path)) {
			res.writeHead(404).end();
			return;
		}
		const body = JSON.stringify(bodies.get(path));
		res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) }).end(body);
	})
	.listen(Number(port), "127.0.0.1", () => process.send?.("listening"));
