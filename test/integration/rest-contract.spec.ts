/**
 * The REST contract of DESIGN.md, row by row, over HTTP against the real services — the same
 * suite on every deployment: embedded (one process), and one process per service (two `db`,
 * two `trashReport`) on NATS and on RabbitMQ with PostgreSQL. `DEPLOYMENTS=nats` narrows it.
 */
import fs from "node:fs";
import path from "node:path";
import { eventually } from "../../harness/system";
import { ingestStats, startDeployment } from "../../harness/deployment";
import type { Deployment, DeploymentKind } from "../../harness/deployment";
import type { Movie } from "../../lib/contracts";
import { listenerKnown } from "../support/events";

const DEPLOYMENTS = (process.env.DEPLOYMENTS ?? "embedded,nats,amqp").split(",") as DeploymentKind[];

let sys: Deployment;
let events: { name: string; params: any }[] = [];

describe.each(DEPLOYMENTS)("on %s", kind => {
	beforeAll(async () => {
		sys = await startDeployment(kind);
		events = [];
		// A listener like any other service would be: proves pilot emits movie.* events.
		sys.broker.createService({
			name: "movieWatcher",
			events: {
				"movie.*"(ctx: any) {
					events.push({ name: ctx.eventName, params: ctx.params });
				}
			}
		});
		await sys.broker.waitForServices("movieWatcher");
		// pilot's process emits only to the listeners its registry holds (the next INFO brings this one)
		await listenerKnown(sys, "movie.*", "pilot");
	}, 90_000);
	afterAll(() => sys.stop());

	describe("movies", () => {
		let alien: Movie;

		it("POST /movies creates a movie: 201 with its id, and emits movie.created", async () => {
			const res = await sys.request("POST", "/movies", { title: "Alien", year: 1979, director: "Ridley Scott", genres: ["horror", "sci-fi"] });
			expect(res.status).toBe(201);
			expect(res.body).toMatchObject({ id: expect.any(String), title: "Alien", year: 1979, director: "Ridley Scott", genres: ["horror", "sci-fi"] });
			expect(Date.parse(res.body.createdAt)).not.toBeNaN();
			expect(res.headers.get("location")).toBe(`/movies/${res.body.id}`);
			alien = res.body;
			await eventually(() => events.find(e => e.name === "movie.created" && e.params.id === alien.id));
		});

		it("normalises input: trims strings, converts a numeric year, drops unknown fields", async () => {
			const res = await sys.request("POST", "/movies", { title: "  Heat ", year: "1995", rating: 5 });
			expect(res.status).toBe(201);
			expect(res.body.title).toBe("Heat");
			expect(res.body.year).toBe(1995);
			expect(res.body).not.toHaveProperty("rating");
		});

		it("GET /movies/:id returns the movie, 404 for an unknown id", async () => {
			expect(await sys.get(`/movies/${alien.id}`)).toMatchObject({ status: 200, body: alien });
			const missing = await sys.get("/movies/does-not-exist");
			expect(missing.status).toBe(404);
			expect(missing.body).toMatchObject({ name: "EntityNotFoundError", code: 404 });
		});

		it("PUT /movies/:id changes only the given fields and emits movie.updated; 404 and 422 otherwise", async () => {
			const res = await sys.request("PUT", `/movies/${alien.id}`, { year: 1980 });
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ id: alien.id, title: "Alien", year: 1980 });
			expect(Date.parse(res.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(alien.updatedAt));
			await eventually(() => events.find(e => e.name === "movie.updated" && e.params.year === 1980));

			expect((await sys.request("PUT", "/movies/does-not-exist", { year: 1980 })).status).toBe(404);
			const invalid = await sys.request("PUT", `/movies/${alien.id}`, { year: "nineteen" });
			expect(invalid.status).toBe(422);
			expect(invalid.body.data).toEqual([expect.objectContaining({ field: "year", type: "number" })]);
		});

		it("GET /movies pages, sorts and searches: {rows, total, page, pageSize, totalPages}", async () => {
			for (const [title, year] of [
				["Brazil", 1985],
				["Casablanca", 1942],
				["Dune", 2021]
			] as const)
				expect((await sys.request("POST", "/movies", { title, year })).status).toBe(201);

			const page = await sys.get("/movies?page=2&pageSize=2&sort=title");
			expect(page.status).toBe(200);
			expect(page.body).toMatchObject({ total: 5, page: 2, pageSize: 2, totalPages: 3 });
			expect(page.body.rows.map((m: Movie) => m.title)).toEqual(["Casablanca", "Dune"]);

			const byYear = await sys.get("/movies?sort=-year&pageSize=100");
			expect(byYear.body.rows.map((m: Movie) => m.year)).toEqual([2021, 1995, 1985, 1980, 1942]);

			const found = await sys.get("/movies?search=scott");
			expect(found.body.rows.map((m: Movie) => m.title)).toEqual(["Alien"]);
			expect(found.body.total).toBe(1);
		});

		it("GET /movies with a bad query is 422 naming the field", async () => {
			const res = await sys.get("/movies?page=0&sort=password");
			expect(res.status).toBe(422);
			expect(res.body.data.map((e: any) => e.field).sort()).toEqual(["page", "sort"]);
		});

		it("DELETE /movies/:id answers {id}, emits movie.removed, then 404", async () => {
			const res = await sys.request("DELETE", `/movies/${alien.id}`);
			expect(res).toMatchObject({ status: 200, body: { id: alien.id } });
			await eventually(() => events.find(e => e.name === "movie.removed" && e.params.id === alien.id));
			expect((await sys.get(`/movies/${alien.id}`)).status).toBe(404);
			expect((await sys.request("DELETE", `/movies/${alien.id}`)).status).toBe(404);
		});
		it("reads are cached per db replica, and a write through any replica is seen at once through every one", async () => {
			const replicas = sys.kind === "embedded" ? [undefined] : sys.procs.filter(p => p.services.includes("db")).map(p => p.nodeID);
			expect(replicas.length).toBe(sys.kind === "embedded" ? 1 : 2);
			const titles = async (nodeID?: string) =>
				((await sys.broker.call("db.list", { pageSize: 100, sort: "title" }, nodeID ? { nodeID } : {})) as { rows: Movie[] }).rows.map(m => m.title);
			// each replica answers (and caches) the list
			for (const nodeID of replicas) expect(await titles(nodeID)).not.toContain("Zodiac");
			// through the gateway, the write lands on one replica; the other must not answer its cached page
			const created = (await sys.request("POST", "/movies", { title: "Zodiac", year: 2007 })).body as Movie;
			for (const nodeID of replicas) expect(await titles(nodeID)).toContain("Zodiac");
			for (const nodeID of replicas) await titles(nodeID);
			expect((await sys.request("DELETE", `/movies/${created.id}`)).status).toBe(200);
			for (const nodeID of replicas) expect(await titles(nodeID)).not.toContain("Zodiac");
		});
	});

	describe("levels and reports", () => {
		it("POST /levels accepts the seed format with 202 {id, status}; the report is applied and readable", async () => {
			const res = await sys.request("POST", "/levels", { can_id: "333", level: "30.65" });
			expect(res.status).toBe(202);
			expect(res.body).toEqual({ id: expect.any(String), status: "accepted" });
			expect(res.headers.get("location")).toBe(`/reports/${res.body.id}`);

			const status = await eventually(async () => {
				const r = await sys.get(`/reports/${res.body.id}`);
				return r.body.status === "applied" && r;
			});
			expect(status.body).toMatchObject({ id: res.body.id, status: "applied", canId: "333", level: 30.65 });

			const can = await sys.get("/levels/333");
			expect(can.status).toBe(200);
			expect(can.body).toEqual({
				canId: "333",
				level: 30.65,
				reportedAt: expect.any(String),
				receivedAt: expect.any(String),
				fillRate: null,
				fullAt: null,
				state: "normal"
			});
		});

		it("accepts canId and a numeric level too, and keeps the newest report per can", async () => {
			const newer = new Date().toISOString();
			const older = new Date(Date.now() - 60_000).toISOString();
			const a = await sys.request("POST", "/levels", { canId: 444, level: 70, reportedAt: newer });
			const b = await sys.request("POST", "/levels", { canId: "444", level: 10, reportedAt: older });
			expect([a.status, b.status]).toEqual([202, 202]);
			await eventually(async () => (await sys.get(`/reports/${b.body.id}`)).body.status === "applied");
			expect((await sys.get("/levels/444")).body).toMatchObject({ level: 70, reportedAt: newer });
		});

		it("GET /levels lists every can sorted by canId, filtered by min and max", async () => {
			for (const [canId, level] of [
				["10", 95],
				["9", 85],
				["100", 5]
			] as const)
				expect((await sys.request("POST", "/levels", { can_id: canId, level })).status).toBe(202);
			await eventually(async () => (await sys.get("/levels")).body.length === 5);

			const all = await sys.get("/levels");
			expect(all.status).toBe(200);
			expect(all.body.map((c: any) => c.canId)).toEqual(["9", "10", "100", "333", "444"]);
			expect(all.body.every((c: any) => typeof c.level === "number")).toBe(true);

			const full = await sys.get("/levels?min=80");
			expect(full.body.map((c: any) => [c.canId, c.level])).toEqual([
				["9", 85],
				["10", 95]
			]);
			const mid = await sys.get("/levels?min=20&max=80");
			expect(mid.body.map((c: any) => c.canId)).toEqual(["333", "444"]);
		});

		it("GET /levels/:canId is 404 for a can that never reported; GET /reports/:id is 404 for an unknown report", async () => {
			expect(await sys.get("/levels/nope")).toMatchObject({ status: 404, body: { type: "CAN_NOT_FOUND" } });
			expect(await sys.get("/reports/nope")).toMatchObject({ status: 404, body: { type: "REPORT_NOT_FOUND" } });
		});

		it("a redelivered report changes nothing", async () => {
			const report = { id: "dup-1", can_id: "555", level: "40", reportedAt: new Date(Date.now() - 1000).toISOString() };
			await sys.broker.sendToChannel("trash-level", report);
			await eventually(async () => (await sys.get("/levels/555")).status === 200);
			await sys.broker.sendToChannel("trash-level", { id: "new-1", can_id: "555", level: "41", reportedAt: new Date().toISOString() });
			await eventually(async () => (await sys.get("/levels/555")).body.level === 41);
			const before = await ingestStats(sys.broker);
			await sys.broker.sendToChannel("trash-level", report);
			await eventually(async () => (await ingestStats(sys.broker)).duplicates === before.duplicates + 1);
			expect((await sys.get("/levels/555")).body.level).toBe(41);
		});

		it("a report POSTed again with its id (a client's retry) stays applied and counts once", async () => {
			const report = { id: `retry-${kind}`, can_id: "556", level: "42" };
			const first = await sys.request("POST", "/levels", report);
			await eventually(async () => (await sys.get(`/reports/${first.body.id}`)).body.status === "applied");
			const before = await ingestStats(sys.broker);
			const again = await sys.request("POST", "/levels", report);
			expect(again).toMatchObject({ status: 202, body: { id: report.id } });
			// the status never goes back to accepted, and the consumer takes the copy for a duplicate
			expect((await sys.get(`/reports/${report.id}`)).body.status).toBe("applied");
			await eventually(async () => (await ingestStats(sys.broker)).duplicates === before.duplicates + 1);
			expect(await ingestStats(sys.broker)).toMatchObject({ applied: before.applied });
			expect((await sys.get(`/reports/${report.id}`)).body).toMatchObject({ status: "applied", level: 42 });
		});
	});

	describe("the OpenAPI document", () => {
		it("GET /openapi.json is docs/openapi.json: every action's params and description reach the gateway, whichever node runs it", async () => {
			const res = await sys.get("/openapi.json");
			expect(res.status).toBe(200);
			expect(res.body).toEqual(JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../docs/openapi.json"), "utf8")));
		});
	});

	describe("workers and health", () => {
		it("GET /workers lists every service type with its nodes", async () => {
			const res = await sys.get("/workers");
			expect(res.status).toBe(200);
			const types = res.body.map((w: any) => w.type);
			expect(types).toEqual(expect.arrayContaining(["db", "pilot", "rest", "simulator", "systemManager", "trashReport"]));
			const nodesOf = (service: string) =>
				sys.procs.length
					? sys.procs
							.filter(p => p.services.includes(service as never))
							.map(p => p.nodeID)
							.sort()
					: [sys.broker.nodeID];
			for (const type of ["db", "pilot", "rest", "simulator", "systemManager", "trashReport"])
				expect(res.body.find((w: any) => w.type === type)).toEqual({ type, nodes: nodesOf(type), instances: nodesOf(type).length });
		});

		it("GET /health/live and /health/ready answer 200 when everything is up", async () => {
			expect(await sys.get("/health/live")).toMatchObject({ status: 200, body: { status: "live" } });
			const ready = await sys.get("/health/ready");
			expect(ready.status).toBe(200);
			expect(Object.values(ready.body.checks).every(v => v === "ok")).toBe(true);
			expect(ready.body.checks).toHaveProperty("store:db", "ok");
		});
	});
});
