/**
 * The gateway's limits — content type, rate, reads behind the token — and the bus's: a node
 * without the NATS credentials cannot join, and no secret ever reaches a log line.
 */
import { createBroker } from "../../broker";
import { ALL_SERVICES } from "../../lib/config";
import { startProcess, stopApp } from "../../harness/deployment";
import type { AppProcess } from "../../harness/deployment";
import { freePort, startNats } from "../../harness/servers";
import type { NatsServer } from "../../harness/servers";
import { eventually, httpClient, startSystem } from "../../harness/system";
import type { System } from "../../harness/system";

describe("content type and reads behind the token", () => {
	let sys: System;
	beforeAll(async () => {
		sys = await startSystem(ALL_SERVICES, {}, { rest: { apiToken: "t0ken-for-reads", apiTokenReads: true } });
	});
	afterAll(() => sys.stop());
	const auth = { authorization: "Bearer t0ken-for-reads" };

	it.each([
		["text/plain", '{"title":"A"}'],
		["application/x-www-form-urlencoded", "title=A"],
		["multipart/form-data; boundary=x", "--x--"],
		["application/xml", "<title>A</title>"]
	])("a write sent as %s is 415", async (type, body) => {
		const res = await sys.request("POST", "/movies", body, { ...auth, "content-type": type });
		expect(res.status).toBe(415);
		expect(res.body).toMatchObject({ code: 415, type: "UNSUPPORTED_MEDIA_TYPE" });
	});

	it("JSON with a charset is fine", async () => {
		expect((await sys.request("POST", "/movies", '{"title":"A"}', { ...auth, "content-type": "application/json; charset=utf-8" })).status).toBe(201);
	});

	it("with API_TOKEN_READS, reads need the token too, and a 401 says how to authenticate", async () => {
		const res = await sys.get("/movies");
		expect(res.status).toBe(401);
		expect(res.headers.get("www-authenticate")).toBe('Bearer realm="trash-bus"');
		expect((await sys.request("GET", "/movies", undefined, auth)).status).toBe(200);
		// probes carry no token
		expect((await sys.get("/health/live")).status).toBe(200);
		expect((await sys.get("/health/ready")).status).toBe(200);
	});
});

describe("a process with a rate limit and secrets, on a NATS that wants credentials", () => {
	const token = "api-t0ken-9f8e7d";
	const password = "bus-pa55-1c2b3a";
	let nats: NatsServer;
	let port: number;
	let server: AppProcess;
	const busUrl = (pass: string) => nats.url.replace("nats://", `nats://trash:${pass}@`);

	beforeAll(async () => {
		nats = await startNats({ jetstream: true, auth: { user: "trash", pass: password } });
		port = await freePort();
		server = startProcess({
			TRANSPORTER: busUrl(password),
			API_TOKEN: token,
			RATE_LIMIT: "20",
			PORT: String(port),
			NODE_ID: "guarded",
			LOG_LEVEL: "debug",
			DB_URI: "memory://",
			SIM_AUTOSTART: "false"
		});
		await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200, 20_000, 200);
	}, 60_000);
	afterAll(async () => {
		if (server) await stopApp(server);
		await nats?.stop();
	});

	it("a client over its limit gets 429 with Retry-After; the limit counts per minute", async () => {
		const http = httpClient(`http://127.0.0.1:${port}`);
		const statuses: number[] = [];
		for (let i = 0; i < 25; i++) statuses.push((await http.get("/workers")).status);
		// readiness polling above used some of the 20
		expect(statuses.filter(s => s === 429).length).toBeGreaterThanOrEqual(5);
		const limited = await http.get("/workers");
		expect(limited.status).toBe(429);
		expect(limited.body).toMatchObject({ name: "RateLimitExceeded", code: 429 });
		expect(limited.headers.get("retry-after")).toBe("60");
		expect(limited.headers.get("x-rate-limit-limit")).toBe("20");
	});

	it("a node with the credentials joins and calls; one without is refused with a clear error and never joins", async () => {
		const member = await createBroker([], { nodeID: "member", logger: false }, {}, busUrl(password));
		await member.start();
		try {
			await member.waitForServices("trashReport", 10_000);
			await expect(member.call("trashReport.levels")).resolves.toEqual(expect.any(Array));

			const intruder = startProcess({ TRANSPORTER: busUrl("wrong-pass"), SERVICES: "pilot", NODE_ID: "intruder", LOG_LEVEL: "info" });
			await eventually(() => /Authorization Violation/i.test(intruder.output), 15_000, 100);
			await new Promise(r => setTimeout(r, 1_000));
			expect(member.registry.nodes.toArray().map(n => n.id)).not.toContain("intruder");
			intruder.child.kill("SIGKILL");
			await intruder.exited;
			expect(intruder.output).toContain("nats://trash:***@127.0.0.1");
			expect(intruder.output).not.toContain("wrong-pass");
		} finally {
			await member.stop();
		}
	}, 40_000);

	it("no log line of the process carries the API token or the bus password, even at debug level", async () => {
		const http = httpClient(`http://127.0.0.1:${port}`);
		await new Promise(r => setTimeout(r, 100));
		await http.request("POST", "/movies", { title: "x" }, { authorization: `Bearer ${token}` });
		await http.request("POST", "/movies", { title: "x" }, { authorization: "Bearer wrong" });
		expect(server.output.length).toBeGreaterThan(1_000);
		expect(server.output).not.toContain(token);
		expect(server.output).not.toContain(password);
	});
});
