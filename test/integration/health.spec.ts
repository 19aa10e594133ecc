/**
 * Health endpoints as a load balancer or Kubernetes uses them, on `npm start`'s process with a
 * PostgreSQL store: when the database goes away, /health/ready answers 503 and names the stores
 * that failed while /health/live stays 200 (restarting the process would not help), and requests
 * that need it answer 503 STORE_UNAVAILABLE; when it is back, the same process is ready again.
 */
import { freePort, startPostgres } from "../../harness/servers";
import type { PostgresServer } from "../../harness/servers";
import { startProcess, stopApp } from "../../harness/deployment";
import type { AppProcess } from "../../harness/deployment";
import { eventually, httpClient } from "../../harness/system";

let pg: PostgresServer;
let app: AppProcess;
let http: ReturnType<typeof httpClient>;

beforeAll(async () => {
	pg = await startPostgres();
	const port = await freePort();
	app = startProcess({ DB_URI: await pg.createDatabase("health"), PORT: String(port), NODE_ID: `health-${process.pid}` });
	http = httpClient(`http://127.0.0.1:${port}`);
	await eventually(async () => (await http.get("/health/ready")).status === 200, 30_000, 100);
}, 60_000);

afterAll(async () => {
	if (app) await stopApp(app);
	await pg?.stop();
});

it("is ready with every check named ok", async () => {
	const ready = await http.get("/health/ready");
	expect(ready.body).toEqual({
		status: "ready",
		checks: {
			broker: "ok",
			transporter: "ok",
			"service:pilot": "ok",
			"service:db": "ok",
			"service:trashReport": "ok",
			"service:systemManager": "ok",
			"store:db": "ok",
			"store:trashReport": "ok"
		}
	});
});

it("answers 503 naming the stores while PostgreSQL is down, stays live, and is ready again once it is back", async () => {
	await pg.stop({ keepData: true });

	const notReady = await eventually(
		async () => {
			const res = await http.get("/health/ready");
			return res.status === 503 && res;
		},
		10_000,
		100
	);
	expect(notReady.body).toMatchObject({ code: 503, type: "NOT_READY", message: expect.stringMatching(/^Not ready: store:db .*store:trashReport /) });
	expect(notReady.body.data.checks).toMatchObject({
		broker: "ok",
		"service:db": "ok",
		"store:db": expect.not.stringMatching(/^ok$/),
		"store:trashReport": expect.not.stringMatching(/^ok$/)
	});
	const live = await http.get("/health/live");
	expect(live.status).toBe(200);
	expect(live.body).toMatchObject({ status: "live" });
	// a request that needs the store is told to come back, at once, without the driver's internals
	for (const [method, path, body] of [
		["GET", "/movies", undefined],
		["GET", "/levels", undefined],
		["POST", "/levels", { can_id: "1", level: "20" }]
	] as const) {
		const started = Date.now();
		const res = await http.request(method, path, body);
		expect({ path, status: res.status, type: res.body.type }).toEqual({ path, status: 503, type: "STORE_UNAVAILABLE" });
		expect(JSON.stringify(res.body)).not.toMatch(/sequelize|ECONN|127\.0\.0\.1|postgres/i);
		expect(Date.now() - started).toBeLessThan(2_000);
	}
	// clients keep asking meanwhile: more than the circuit breaker's minimum of failed calls
	for (let i = 0; i < 30; i++) for (const path of ["/movies", "/levels"]) expect((await http.get(path)).body.type).toBe("STORE_UNAVAILABLE");

	await pg.start();
	const started = Date.now();
	await eventually(async () => (await http.get("/health/ready")).status === 200, 20_000, 200);
	console.log(`ready again ${Date.now() - started} ms after PostgreSQL was back`);
	// served as soon as it is ready: the store's outage did not open the services' circuit breakers
	// (it is no endpoint's failure, and every replica shares the store)
	for (const path of ["/movies", "/levels"]) expect({ path, status: (await http.get(path)).status }).toEqual({ path, status: 200 });
	expect(app.child.exitCode).toBeNull(); // the same process, never restarted
}, 60_000);
