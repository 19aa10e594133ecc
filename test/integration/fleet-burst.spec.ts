/**
 * Alerts under the worst the bus can do: a 10 000-report burst over two consumers, one killed -9
 * in the middle and restarted, reports applied out of order and redelivered. Each collection is
 * still one `can.emptied` and each fill cycle one `can.full`.
 *
 * The killed consumer's unacked reports come back only after the bus's ack wait, long after the
 * other consumer applied the reports around them, and collections get recorded while some of
 * their reports are still missing: the test checks the alerts raised (the durable record) exactly,
 * and the events heard against them.
 */
import { Client } from "pg";
import type { CanAlert, SimulatedReport } from "../../lib/contracts";
import { CHANNEL } from "../../lib/ingest/report";
import { startDeployment } from "../../harness/deployment";
import type { Deployment, DeploymentKind } from "../../harness/deployment";
import { eventually } from "../../harness/system";
import { listenerKnown, listenToAlerts } from "../support/events";
import { seededRandom } from "../support/random";

const KINDS = (process.env.BURST_DEPLOYMENTS ?? "nats").split(",") as DeploymentKind[];
const CANS = 10;
const PER_CAN = 1_000;

/**
 * Each can fills 1.5–2.5 points a report and is emptied (to 1–4 %) the report after it reaches 95 %:
 * a fill cycle is about 45 reports, fewer than a consumer holds of one can (up to 2 048 reports in
 * flight over ten cans), so the killed one's reports come back with whole cycles the other consumer
 * applied around them: emptyings and crossings it could not see.
 */
function burst(kind: string) {
	const random = seededRandom(20261203);
	const start = Date.now() - 3 * 3_600_000;
	const reports: SimulatedReport[][] = [];
	const expected = new Map<string, { emptied: number; full: number }>();
	for (let c = 0; c < CANS; c++) {
		const canId = `${kind}-burst-${c}`;
		let level = 10;
		let crossed = false;
		const counts = { emptied: 0, full: 0 };
		reports.push(
			Array.from({ length: PER_CAN }, (_, k) => {
				if (k > 0) {
					if (level >= 95) {
						level = 1 + random() * 3;
						counts.emptied++;
						crossed = false;
					} else level = Math.min(100, level + 1.5 + random());
				}
				if (level >= 80 && !crossed) {
					counts.full++;
					crossed = true;
				}
				return { id: `${canId}-${k}`, can_id: canId, level: level.toFixed(2), reportedAt: new Date(start + k * 1_000 + c).toISOString() };
			})
		);
		expected.set(canId, counts);
	}
	return { reports, expected };
}

describe.each(KINDS)("on %s", kind => {
	let sys: Deployment;
	let pg: Client;
	const heard: CanAlert[] = [];

	beforeAll(async () => {
		sys = await startDeployment(kind, {
			layout: [
				["gateway", ["rest", "systemManager", "pilot", "db"]],
				["trashReport-1", ["trashReport"]],
				["trashReport-2", ["trashReport"]]
			]
		});
		pg = new Client({ connectionString: sys.env.DB_URI });
		await pg.connect();
		// what a subscriber of the alerts hears
		await listenToAlerts(sys.broker, heard);
		// the replicas broadcast only to listeners they know of: wait until they know this one
		await listenerKnown(sys, "can.*");
	}, 120_000);
	afterAll(async () => {
		await pg?.end();
		await sys?.stop();
	});

	const applied = async () => Number((await pg.query(`SELECT count(*) FROM reports WHERE status = 'applied'`)).rows[0].count);

	it(`raises one can.emptied per collection and one can.full per fill cycle over ${CANS * PER_CAN} reports, a consumer killed -9 mid-burst`, async () => {
		const { reports, expected } = burst(kind);
		// each can's first report first, so that its first fill cycle starts there whatever the order after
		await Promise.all(reports.map(can => sys.broker.sendToChannel(CHANNEL, can[0])));
		await eventually(async () => (await applied()) === CANS, 20_000);

		const rest = reports[0].slice(1).flatMap((_, k) => reports.map(can => can[k + 1]));
		const victim = sys.procs.find(p => p.name === "trashReport-2")!;
		for (let sent = 0; sent < rest.length; sent += 500) {
			await Promise.all(rest.slice(sent, sent + 500).map(r => sys.broker.sendToChannel(CHANNEL, r)));
			if (sent === 3_000) await sys.kill(victim, "SIGKILL");
		}
		await sys.spawn("trashReport-2", ["trashReport"]);
		await eventually(async () => (await applied()) === CANS * PER_CAN, 240_000, 500);
		// the alerts follow the reports on their own channel: wait until none has come for 3 s
		let count = -1;
		await eventually(
			async () => {
				const settled = heard.length === count;
				count = heard.length;
				return settled;
			},
			60_000,
			3_000
		);

		// Raised: each alert id the "alerts" group took on (its claim in the alerts table), whoever
		// raised it and however often. Exactly one can.full per fill cycle, one can.emptied per collection.
		const { rows } = await pg.query(`SELECT "_id", type, "canId" FROM alerts WHERE type <> 'can.silent'`);
		const raised = rows as { _id: string; type: string; canId: string }[];
		for (const [canId, { emptied, full }] of expected) {
			const recorded = Number((await pg.query(`SELECT count(*) FROM collections WHERE "canId" = $1`, [canId])).rows[0].count);
			const mine = (type: string) => raised.filter(a => a.canId === canId && a.type === type).length;
			if (recorded !== emptied || mine("can.emptied") !== emptied || mine("can.full") !== full) {
				// what to look at when it fails: the can's alerts and collections, in time order
				const { rows: cols } = await pg.query(`SELECT "fromAt", "emptiedAt" FROM collections WHERE "canId" = $1 ORDER BY "fromAt"`, [canId]);
				const ids = raised
					.filter(a => a.canId === canId)
					.map(a => a._id)
					.sort();
				console.log(JSON.stringify({ canId, alerts: ids, collections: cols }, null, 1));
			}
			expect({ canId, collections: recorded, "can.emptied": mine("can.emptied"), "can.full": mine("can.full") }).toEqual({
				canId,
				collections: emptied,
				"can.emptied": emptied,
				"can.full": full
			});
		}
		// Heard: each raised alert once. (A consumer killed between its broadcast and its record of it
		// broadcasts again when its copy comes back: AlertOnceMiddleware drops the repeat at the listener.)
		const ids = heard.filter(a => a.type !== "can.silent").map(a => a.id);
		expect(ids.length - new Set(ids).size).toBe(0);
		expect(new Set(ids)).toEqual(new Set(raised.map(a => a._id)));
		console.log(`[${kind}] ${raised.length} alerts raised and heard, each once, for ${CANS * PER_CAN} reports, a consumer killed -9`);
	}, 420_000);
});
