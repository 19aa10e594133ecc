/**
 * Upgrading on PostgreSQL: a table an earlier version created gains the columns added since
 * (Sequelize's `sync()` creates a missing table but never alters one), keeping its rows, and
 * replicas starting together add them once without tripping over each other. And a batch's rows
 * (bound as one array per column, read back per can) come back as they went in.
 */
import { Client } from "pg";
import { INGEST_TABLES } from "../../lib/ingest/apply";
import type { HistoryDoc, LevelDoc } from "../../lib/ingest/apply";
import { createAdapter, storeOn } from "../../lib/store";
import { startPostgres } from "../../harness/servers";
import type { PostgresServer } from "../../harness/servers";

let pg: PostgresServer;
beforeAll(async () => {
	pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.stop());

it("adds the fleet columns to a levels table of the version before them, keeping its rows", async () => {
	const uri = await pg.createDatabase("upgrade");
	const client = new Client({ connectionString: uri });
	await client.connect();
	try {
		// the levels table as the version before fleet insight created it, with a can in it
		await client.query(`CREATE TABLE levels ("_id" VARCHAR(64) PRIMARY KEY, "level" DOUBLE PRECISION NOT NULL, "reportedAt" VARCHAR(30) NOT NULL,
			"receivedAt" VARCHAR(30) NOT NULL, "reportId" VARCHAR(128) NOT NULL, "version" VARCHAR(160) NOT NULL)`);
		await client.query(`INSERT INTO levels VALUES ('333', 30.65, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', 'r1', '2026-01-01T00:00:00.000Z|r1')`);

		// two replicas start at once
		const adapters = [0, 1].map(() => createAdapter("levels", INGEST_TABLES.levels, { uri, dataDir: "" }));
		await Promise.all(adapters.map(a => a.connect()));
		try {
			const { rows } = await client.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'levels' ORDER BY column_name`);
			expect(rows.map(r => r.column_name)).toEqual(
				[
					"_id",
					"cycleStartedAt",
					"fillRate",
					"fullSince",
					"lastEmptiedAt",
					"level",
					"receivedAt",
					"reportId",
					"reportedAt",
					"trendAt",
					"trendLevel",
					"version"
				].sort()
			);
			const levels = storeOn<LevelDoc>(adapters[0], "levels", INGEST_TABLES.levels);
			expect(await levels.get("333")).toEqual({
				_id: "333",
				level: 30.65,
				reportedAt: "2026-01-01T00:00:00.000Z",
				receivedAt: "2026-01-01T00:00:01.000Z",
				reportId: "r1",
				version: "2026-01-01T00:00:00.000Z|r1"
			});
			// and the ingest writes its derived fields there
			const newer = {
				...(await levels.get("333"))!,
				level: 40,
				reportedAt: "2026-01-01T01:00:00.000Z",
				reportId: "r2",
				version: "2026-01-01T01:00:00.000Z|r2"
			};
			await levels.putManyIfNewer([{ ...newer, fillRate: 9.35, cycleStartedAt: "2026-01-01T00:00:00.000Z" }], ["fillRate", "cycleStartedAt"]);
			expect(await levels.get("333")).toMatchObject({ level: 40, fillRate: 9.35, cycleStartedAt: "2026-01-01T00:00:00.000Z" });
		} finally {
			await Promise.all(adapters.map(a => a.disconnect()));
		}
	} finally {
		await client.end();
	}
}, 60_000);

it("writes and reads a batch's rows as they are, a lone surrogate as U+FFFD instead of failing the batch", async () => {
	const adapter = createAdapter("history", INGEST_TABLES.history, { uri: await pg.createDatabase("roundtrip"), dataDir: "" });
	await adapter.connect();
	try {
		const history = storeOn<HistoryDoc>(adapter, "history", INGEST_TABLES.history);
		const canIds = ["333", 'quo"te', "back\\slash", "ünïcødé 🗑", "a\ud800b", "\\ud800 as text"];
		const docs = canIds.flatMap((canId, i) => [0, 1].map(k => ({ _id: `r${i}-${k}`, canId, level: 30.65 + k / 3, reportedAt: `2026-01-01T00:00:0${k}.000Z` })));
		expect([...(await history.insertMany(docs))].sort()).toEqual(docs.map(d => d._id).sort());
		const stored = canIds.map(c => c.toWellFormed());
		const read = await history.recent("canId", stored, "reportedAt", { limit: 1 });
		expect(read.sort((a, b) => (a._id < b._id ? -1 : 1))).toEqual(docs.filter(d => d._id.endsWith("-1")).map(d => ({ ...d, canId: d.canId.toWellFormed() })));
		// none left out, none inserted twice
		expect(await history.insertMany(docs)).toEqual(new Set());
		expect(await history.recent("canId", ["nobody"], "reportedAt", { limit: 5 })).toEqual([]);
	} finally {
		await adapter.disconnect();
	}
}, 60_000);
