/**
 * Fleet insight on every deployment (the embedded process on NeDB files; NATS and RabbitMQ on
 * PostgreSQL): the can registry, each can's level history, its fill rate and time to full,
 * its emptyings, the next round's pick list and the FIWARE view, all from the same ingest path.
 */
import type { Can, CanAlert, CanLevel, Collection, LevelPoint } from "../../lib/contracts";
import { ingestStats, startDeployment } from "../../harness/deployment";
import { CHANNEL } from "../../lib/ingest/report";
import type { Deployment, DeploymentKind } from "../../harness/deployment";
import { eventually, startSystem } from "../../harness/system";
import { listenerKnown, listenToAlerts } from "../support/events";
import { ALL_SERVICES } from "../../lib/config";

const KINDS = (process.env.DEPLOYMENTS ?? "embedded,nats,amqp").split(",") as DeploymentKind[];
const HOUR = 3_600_000;
const RETENTION = "2h";

describe.each(KINDS)("on %s", kind => {
	let sys: Deployment | Awaited<ReturnType<typeof startSystem>>;
	const alerts: CanAlert[] = [];
	/** Unique can ids per deployment: the NATS and AMQP runs share nothing, the embedded one has its own files. */
	const can = (name: string) => `${kind}-${name}`;
	let seq = 0;

	beforeAll(async () => {
		sys =
			kind === "embedded"
				? await startSystem(ALL_SERVICES, {}, { trashReport: { levelHistoryRetentionMs: 2 * HOUR } })
				: await startDeployment(kind, { env: { LEVEL_HISTORY_RETENTION: RETENTION } });
		// what a subscriber of the alerts hears
		await listenToAlerts(sys.broker, alerts);
		if (kind !== "embedded") await listenerKnown(sys as Deployment, "can.*");
	}, 120_000);
	afterAll(() => sys?.stop());

	/** Posts a report `minutesAgo` minutes old and waits until it is applied. */
	async function report(canId: string, level: number, minutesAgo: number, id = `r${++seq}-${canId}`) {
		const reportedAt = new Date(Date.now() - minutesAgo * 60_000).toISOString();
		const res = await sys.request("POST", "/levels", { id, can_id: canId, level, reportedAt });
		expect(res.status).toBe(202);
		await eventually(async () => (await sys.get(`/reports/${id}`)).body?.status === "applied", 15_000);
		return { id, reportedAt };
	}
	const level = async (canId: string) => (await sys.get<CanLevel>(`/levels/${encodeURIComponent(canId)}`)).body;

	describe("the can registry", () => {
		it("registers a can (201), changes only the fields sent (200), and clears one sent as null", async () => {
			const id = can("town-hall");
			const created = await sys.request("PUT", `/cans/${id}`, {
				name: "Town hall",
				location: { lat: 59.437, lon: 24.745 },
				capacityLitres: 240,
				wasteKind: "mixed",
				fullThreshold: 85
			});
			expect(created.status).toBe(201);
			expect(created.body).toEqual({
				canId: id,
				name: "Town hall",
				location: { lat: 59.437, lon: 24.745 },
				capacityLitres: 240,
				wasteKind: "mixed",
				fullThreshold: 85,
				registered: true,
				lastEmptiedAt: null
			});
			const changed = await sys.request("PUT", `/cans/${id}`, { capacityLitres: 660, wasteKind: null });
			expect(changed.status).toBe(200);
			expect(changed.body).toMatchObject({ name: "Town hall", capacityLitres: 660, wasteKind: null, fullThreshold: 85 });
			expect((await sys.get(`/cans/${id}`)).body).toEqual(changed.body);
		});

		it("knows a can that reported before it was registered, with the defaults", async () => {
			const id = can("unregistered");
			await report(id, 12, 1);
			expect((await sys.get(`/cans/${id}`)).body).toEqual({
				canId: id,
				name: null,
				location: null,
				capacityLitres: null,
				wasteKind: null,
				fullThreshold: 80,
				registered: false,
				lastEmptiedAt: null
			});
			expect(((await sys.get("/cans")).body as Can[]).find(c => c.canId === id)).toMatchObject({ registered: false });
		});

		it("refuses bad fields with 422 and stores nothing of the request", async () => {
			const id = can("refused");
			for (const body of [
				{ location: { lat: 91, lon: 0 } },
				{ location: { lat: 10 } },
				{ location: { lat: 1, lon: 2, alt: 3 } },
				{ fullThreshold: 0 },
				{ fullThreshold: 101 },
				{ capacityLitres: -5 },
				{ name: "" },
				{ name: "x".repeat(101) },
				{ wasteKind: 7 },
				{ colour: "green" }
			]) {
				const res = await sys.request("PUT", `/cans/${id}`, body);
				expect([res.status, res.body.type]).toEqual([422, "VALIDATION_ERROR"]);
			}
			expect((await sys.get(`/cans/${id}`)).status).toBe(404);
			expect((await sys.request("PUT", `/cans/${"c".repeat(65)}`, {})).status).toBe(422);
		});

		it("forgets a deleted can: registration, level and history; 404 for an unknown one", async () => {
			const id = can("to-delete");
			await sys.request("PUT", `/cans/${id}`, { name: "Gone soon" });
			await report(id, 40, 1);
			const removed = await sys.request("DELETE", `/cans/${id}`);
			expect([removed.status, removed.body.name]).toEqual([200, "Gone soon"]);
			for (const path of [`/cans/${id}`, `/levels/${id}`, `/levels/${id}/history`, `/cans/${id}/collections`]) expect((await sys.get(path)).status).toBe(404);
			expect((await sys.request("DELETE", `/cans/${id}`)).status).toBe(404);
			expect(((await sys.get("/cans")).body as Can[]).map(c => c.canId)).not.toContain(id);
		});

		it("answers the can as an NGSI-LD WasteContainer, by query or by Accept header", async () => {
			const id = can("fiware");
			await sys.request("PUT", `/cans/${id}`, { name: "Harbour", location: { lat: 59.44, lon: 24.76 }, wasteKind: "glass" });
			await report(id, 42.5, 1);
			const byQuery = await sys.get(`/cans/${id}?format=ngsi-ld`);
			expect(byQuery.headers.get("content-type")).toMatch(/^application\/ld\+json/);
			expect(byQuery.body).toMatchObject({
				id: `urn:ngsi-ld:WasteContainer:${id}`,
				type: "WasteContainer",
				name: { type: "Property", value: "Harbour" },
				location: { type: "GeoProperty", value: { type: "Point", coordinates: [24.76, 59.44] } },
				storedWasteKind: { type: "Property", value: ["glass"] },
				fillingLevel: { type: "Property", value: 0.425 },
				status: { type: "Property", value: "normal" },
				"@context": expect.arrayContaining([expect.stringContaining("ngsi-ld")])
			});
			expect((await sys.request("GET", `/cans/${id}`, undefined, { Accept: "application/ld+json" })).body).toEqual(byQuery.body);
			expect((await sys.get(`/cans/${id}`)).body).toMatchObject({ canId: id, name: "Harbour" });
		});
	});

	describe("history and forecasts", () => {
		// 30 % an hour: a report every 10 minutes, 5 points apart
		const filling = [
			[20, 50],
			[25, 40],
			[30, 30],
			[35, 20],
			[40, 10],
			[45, 0]
		] as const;

		it("keeps every applied level in time order, windowed by from/to and downsampled by step", async () => {
			const id = can("history");
			// delivered out of order
			for (const i of [3, 0, 5, 1, 4, 2]) await report(id, filling[i][0], filling[i][1]);
			const all = (await sys.get<LevelPoint[]>(`/levels/${id}/history`)).body;
			expect(all.map(p => p.level)).toEqual([20, 25, 30, 35, 40, 45]);
			const from = all[1].reportedAt;
			const to = all[4].reportedAt;
			expect((await sys.get<LevelPoint[]>(`/levels/${id}/history?from=${from}&to=${to}`)).body.map(p => p.level)).toEqual([25, 30, 35]);
			expect((await sys.get<LevelPoint[]>(`/levels/${id}/history?limit=2`)).body.map(p => p.level)).toEqual([40, 45]);
			// 20-minute buckets aligned to the epoch: whichever they are, each keeps its last level and there are 3 or 4
			const stepped = (await sys.get<LevelPoint[]>(`/levels/${id}/history?step=20m`)).body;
			expect(stepped.length).toBeGreaterThanOrEqual(3);
			expect(stepped.length).toBeLessThanOrEqual(4);
			expect(stepped.at(-1)!.level).toBe(45);
			for (const p of stepped) expect(all).toContainEqual(p);
			expect((await sys.get(`/levels/${id}/history?from=2026-02-30T00:00:00Z`)).status).toBe(422);
			expect((await sys.get(`/levels/${id}/history?from=${to}&to=${from}`)).status).toBe(422);
		});

		it("forecasts the fill rate and time to full, the same whatever the order and however often a report came", async () => {
			const [inOrder, shuffled] = [can("forecast-a"), can("forecast-b")];
			const sent: { id: string; reportedAt: string }[] = [];
			for (const [lvl, ago] of filling) sent.push(await report(inOrder, lvl, ago));
			const again: { id: string; reportedAt: string }[] = [];
			for (const i of [5, 2, 0, 4, 1, 3]) again.push(await report(shuffled, filling[i][0], filling[i][1]));
			// a redelivery of one report, straight on the bus as the bus would deliver it again
			const duplicates = (await ingestStats(sys.broker)).duplicates;
			await sys.broker.sendToChannel(CHANNEL, { id: again[1].id, can_id: shuffled, level: filling[2][0], reportedAt: again[1].reportedAt });
			await eventually(async () => (await ingestStats(sys.broker)).duplicates > duplicates, 10_000);
			const [a, b] = [await level(inOrder), await level(shuffled)];
			// (the reports' times are a few ms off the 10 minutes: each is "now minus …" when sent)
			expect(a.fillRate).toBeCloseTo(30, 1);
			expect(b.fillRate).toBeCloseTo(a.fillRate!, 1);
			// 45 % now, 80 % in 35 / 30 h = 70 minutes
			const expected = Date.parse(sent.at(-1)!.reportedAt) + (70 / 60) * HOUR;
			expect(Math.abs(Date.parse(a.fullAt!) - expected)).toBeLessThan(5_000);
			expect(a.state).toBe("normal");
		});

		it("uses a can's own threshold for its state and lists the next round's pick list soonest first", async () => {
			const [soon, later, never, own] = [can("pick-soon"), can("pick-later"), can("pick-never"), can("pick-own")];
			for (const [lvl, ago] of filling) await report(soon, lvl + 20, ago); // 80 % in 10 minutes
			for (const [lvl, ago] of filling) await report(later, lvl, ago); // in 70 minutes
			for (const [, ago] of filling) await report(never, 30, ago); // not filling
			await sys.request("PUT", `/cans/${own}`, { fullThreshold: 60 });
			await report(own, 65, 1);
			expect(await level(own)).toMatchObject({ state: "full", fullAt: expect.any(String) });
			expect(await level(never)).toMatchObject({ fillRate: 0, fullAt: null, state: "normal" });

			const inTwoHours = new Date(Date.now() + 2 * HOUR).toISOString();
			const pick = ((await sys.get<CanLevel[]>(`/levels?fullBefore=${inTwoHours}`)).body as CanLevel[])
				.map(l => l.canId)
				.filter(id => id.startsWith(`${kind}-pick`));
			expect(pick).toEqual([own, soon, later]);
			const inHalfAnHour = new Date(Date.now() + HOUR / 2).toISOString();
			expect(((await sys.get<CanLevel[]>(`/levels?fullBefore=${inHalfAnHour}`)).body as CanLevel[]).map(l => l.canId)).not.toContain(later);
			expect((await sys.get("/levels?fullBefore=tomorrow")).status).toBe(422);
		});

		it("records an emptying once, restarts the fill rate, and raises can.full once per cycle and can.emptied per collection", async () => {
			const id = can("cycle");
			await report(id, 50, 55); // (within SILENT_AFTER, 1 h: no can.silent)
			await report(id, 85, 50); // full
			await report(id, 90, 40); // still the same cycle
			await report(id, 84, 35); // noise around the threshold: no second can.full
			await report(id, 4, 30); // emptied
			await report(id, 20, 20);
			await report(id, 82, 10); // full again: a new cycle
			const collections = (await sys.get<Collection[]>(`/cans/${id}/collections`)).body;
			expect(collections).toEqual([{ canId: id, emptiedAt: expect.any(String), levelBefore: 84, levelAfter: 4 }]);
			expect((await sys.get<Can>(`/cans/${id}`)).body.lastEmptiedAt).toBe(collections[0].emptiedAt);
			// the rate of the new cycle only: 4 → 20 → 82 over 20 minutes
			expect((await level(id)).fillRate).toBeGreaterThan(100);
			await eventually(() => alerts.filter(a => a.canId === id).length >= 3, 10_000);
			await new Promise(r => setTimeout(r, 500)); // a repeat would arrive by now
			const mine = alerts.filter(a => a.canId === id);
			// alerts are handled in parallel: in any order
			expect(mine.map(a => [a.type, a.level]).sort()).toEqual([
				["can.emptied", 4],
				["can.full", 82],
				["can.full", 85]
			]);
			expect(new Set(mine.map(a => a.id)).size).toBe(3);
		});

		it("prunes levels older than LEVEL_HISTORY_RETENTION", async () => {
			const id = can("old");
			await report(id, 10, 3 * 60);
			await report(id, 15, 1);
			await sys.broker.call("trashReport.prune");
			expect((await sys.get<LevelPoint[]>(`/levels/${id}/history`)).body.map(p => p.level)).toEqual([15]);
		});
	});
});
