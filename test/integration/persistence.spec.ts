/**
 * With DB_URI unset, movies, levels, report statuses, the can registry and each can's history live
 * in NeDB files under DATA_DIR: stopping the system and starting a new one on the same directory
 * keeps them all.
 */
import fs from "node:fs";
import { config } from "../../lib/config";
import { startSystem, eventually } from "../../harness/system";

it("movies, levels, report statuses, registered cans and level history survive a restart", async () => {
	const first = await startSystem();
	const created = await first.request("POST", "/movies", { title: "Alien", year: 1979, genres: ["horror"] });
	const gone = await first.request("POST", "/movies", { title: "Deleted later" });
	await first.request("DELETE", `/movies/${gone.body.id}`);
	await first.request("PUT", `/movies/${created.body.id}`, { director: "Ridley Scott" });
	await first.request("PUT", "/cans/333", { name: "Town hall", location: { lat: 59.437, lon: 24.745 } });
	const earlier = await first.request("POST", "/levels", { can_id: "333", level: "20", reportedAt: new Date(Date.now() - 60_000).toISOString() });
	await eventually(async () => (await first.get(`/reports/${earlier.body.id}`)).body.status === "applied");
	const report = await first.request("POST", "/levels", { can_id: "333", level: "30.65" });
	await eventually(async () => (await first.get(`/reports/${report.body.id}`)).body.status === "applied");
	await first.stop();

	// alerts.db and webhookDeliveries.db: which alerts were raised and posted (so a restart does not repeat them)
	expect(fs.readdirSync(config.dataDir).sort()).toEqual([
		"alerts.db",
		"cans.db",
		"collections.db",
		"history.db",
		"levels.db",
		"movies.db",
		"reports.db",
		"webhookDeliveries.db"
	]);

	const second = await startSystem();
	try {
		const movies = await second.get("/movies");
		expect(movies.body.rows).toEqual([
			{
				id: created.body.id,
				title: "Alien",
				year: 1979,
				director: "Ridley Scott",
				genres: ["horror"],
				createdAt: expect.any(String),
				updatedAt: expect.any(String)
			}
		]);
		expect((await second.get(`/movies/${gone.body.id}`)).status).toBe(404);
		expect((await second.get("/levels/333")).body).toMatchObject({ canId: "333", level: 30.65 });
		expect((await second.get(`/reports/${report.body.id}`)).body).toMatchObject({ status: "applied" });
		expect((await second.get("/cans/333")).body).toMatchObject({ name: "Town hall", location: { lat: 59.437, lon: 24.745 }, registered: true });
		expect((await second.get("/levels/333/history")).body.map((p: { level: number }) => p.level)).toEqual([20, 30.65]);

		// an old report redelivered after the restart still does not overwrite the newer level
		await second.broker.sendToChannel("trash-level", { can_id: "333", level: 99, reportedAt: "2000-01-01T00:00:00Z" });
		await eventually(async () => ((await second.broker.call("trashReport.stats")) as { received: number }).received === 1);
		expect((await second.get("/levels/333")).body.level).toBe(30.65);
	} finally {
		await second.stop();
	}
});

it("a second process on the same NeDB files refuses to start, with a clear error", async () => {
	const owner = await startSystem(["db", "trashReport"]);
	try {
		await expect(startSystem(["db"])).rejects.toThrow(/movies\.db is in use by another process.*DB_URI=postgres/);
		await expect(startSystem(["trashReport"])).rejects.toThrow(/levels\.db is in use by another process/);
	} finally {
		await owner.stop();
	}
	// released on stop: the next owner starts
	const next = await startSystem(["db", "trashReport"]);
	await next.stop();
});
