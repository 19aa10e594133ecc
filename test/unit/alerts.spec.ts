/**
 * The alert rules: the webhook signature (GitHub's documented example), stable ids, the silence
 * check, the claim that makes each alert one event, on NeDB and on PostgreSQL, and the listener
 * side that drops the repeat a crash can cause.
 */
import { ServiceBroker } from "moleculer";
import type { Context } from "moleculer";
import { freshDatabase } from "../../harness/deployment";
import { AlertOnceMiddleware } from "../../middlewares/alert-once.middleware";
import { ALERT_TABLES, alertId, claim, isAlertMessage, markDone, signature, silenceCheckEvery, silentAlerts } from "../../lib/fleet/alerts";
import type { AlertDoc } from "../../lib/fleet/alerts";
import { createAdapter, storeOn } from "../../lib/store";
import type { Store, StoreAdapter } from "../../lib/store";

describe("signature", () => {
	it("is GitHub's X-Hub-Signature-256 of the raw body (the example of GitHub's docs)", () => {
		expect(signature("It's a Secret to Everybody", "Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
	});

	it("changes with the body and with the secret; a Buffer body signs the same as its text", () => {
		const body = JSON.stringify({ id: "can.full:1:2026-01-01T00:00:00.000Z" });
		expect(signature("s", body)).not.toBe(signature("s", body.replace("1", "2")));
		expect(signature("s", body)).not.toBe(signature("t", body));
		expect(signature("s", Buffer.from(body))).toBe(signature("s", body));
	});
});

it("an alert's id is its type, can and time, so the same alert detected twice is one id", () => {
	expect(alertId("can.full", "333", "2026-01-01T10:00:00.000Z")).toBe("can.full:333:2026-01-01T10:00:00.000Z");
});

it("takes only well-formed alert messages whose id matches the alert", () => {
	const alert = {
		id: alertId("can.emptied", "7", "2026-01-01T00:00:00.000Z"),
		type: "can.emptied",
		canId: "7",
		at: "2026-01-01T00:00:00.000Z",
		level: 2,
		fullThreshold: 80
	};
	expect(isAlertMessage({ alert, copy: "c1" })).toBe(true);
	expect(isAlertMessage({ alert })).toBe(false);
	expect(isAlertMessage({ alert: { ...alert, type: "can.burning" }, copy: "c1" })).toBe(false);
	expect(isAlertMessage({ alert: { ...alert, id: "other" }, copy: "c1" })).toBe(false);
	expect(isAlertMessage(null)).toBe(false);
	expect(isAlertMessage("can.full")).toBe(false);
});

describe("silence", () => {
	const now = Date.parse("2026-01-01T12:00:00.000Z");
	const levels = [
		{ _id: "quiet", level: 40, reportedAt: "2026-01-01T10:59:59.999Z" },
		{ _id: "just-in-time", level: 50, reportedAt: "2026-01-01T11:00:00.000Z" },
		{ _id: "recent", level: 60, reportedAt: "2026-01-01T11:59:00.000Z" }
	];

	it("raises can.silent for the cans whose last report is older than SILENT_AFTER, with the last report's time in the id", () => {
		expect(silentAlerts(levels, now, 3600e3, 80)).toEqual([
			{ id: "can.silent:quiet:2026-01-01T10:59:59.999Z", type: "can.silent", canId: "quiet", at: "2026-01-01T10:59:59.999Z", level: 40, fullThreshold: 80 }
		]);
		expect(silentAlerts(levels, now, 60e3, 80).map(a => a.canId)).toEqual(["quiet", "just-in-time"]);
	});

	it("checks every quarter of SILENT_AFTER, at most a minute, at least a second", () => {
		expect(silenceCheckEvery(3600e3)).toBe(60_000);
		expect(silenceCheckEvery(120e3)).toBe(30_000);
		expect(silenceCheckEvery(2_000)).toBe(1_000);
	});
});

describe.each(["memory", "postgres"])("the claim on %s", kind => {
	let adapter: StoreAdapter;
	let alerts: Store<AlertDoc>;
	const doc = { _id: "can.full:1:2026-01-01T00:00:00.000Z", type: "can.full" as const, canId: "1", at: "2026-01-01T00:00:00.000Z" };
	const now = () => new Date().toISOString();

	beforeAll(async () => {
		const uri = kind === "memory" ? "memory://" : await freshDatabase("alerts_claim");
		adapter = createAdapter("alerts", ALERT_TABLES.alerts, { uri, dataDir: "" });
		await adapter.connect();
		alerts = storeOn<AlertDoc>(adapter, "alerts");
	});
	afterAll(() => adapter?.disconnect());

	it("goes to the first copy; a redelivery of that copy keeps it, another copy leaves it; once done, done for every copy", async () => {
		expect(await claim(alerts, doc, "copy-a", now())).toBe("mine");
		expect(await claim(alerts, doc, "copy-b", now())).toBe("other");
		// copy-a's consumer died before it was done: its redelivery finishes the job
		expect(await claim(alerts, doc, "copy-a", now())).toBe("mine");
		await markDone(alerts, doc, "copy-a", now());
		expect(await claim(alerts, doc, "copy-a", now())).toBe("done");
		expect(await claim(alerts, doc, "copy-c", now())).toBe("done");
		expect(await alerts.get(doc._id)).toMatchObject({ ...doc, copy: "copy-a", doneAt: expect.any(String) });
	});

	it("goes to exactly one of many copies claiming at once", async () => {
		const racing = { ...doc, _id: "can.full:2:2026-01-01T00:00:00.000Z", canId: "2" };
		const states = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(alerts, racing, `copy-${i}`, now())));
		expect(states.filter(s => s === "mine")).toHaveLength(1);
		expect(states.filter(s => s === "other")).toHaveLength(19);
	});
});

describe("AlertOnceMiddleware", () => {
	it("hands each alert id to each listener once, and every other event as it comes", async () => {
		const broker = new ServiceBroker({ logger: false, middlewares: [AlertOnceMiddleware()] });
		const heard: { by: string; name: string; id: unknown }[] = [];
		const listen = (by: string) => (ctx: Context<{ id?: unknown }>) => void heard.push({ by, name: ctx.eventName!, id: ctx.params.id });
		broker.createService({ name: "map", events: { "can.*": listen("map"), "other.thing": listen("map") } });
		broker.createService({ name: "pager", events: { "can.full": listen("pager") } });
		await broker.start();
		try {
			const full = { id: alertId("can.full", "333", "first"), type: "can.full", canId: "333", at: "2026-01-01T00:00:00.000Z", level: 85, fullThreshold: 80 };
			const emptied = { ...full, id: alertId("can.emptied", "333", full.at), type: "can.emptied", level: 2 };
			// the same alert broadcast again (a consumer killed between its broadcast and its mark)
			for (const [name, params] of [
				["can.full", full],
				["can.full", full],
				["can.emptied", emptied],
				["can.emptied", emptied],
				["other.thing", { id: "x" }],
				["other.thing", { id: "x" }]
			] as const)
				await broker.broadcast(name, params);
			expect(heard).toEqual([
				{ by: "map", name: "can.full", id: full.id },
				{ by: "pager", name: "can.full", id: full.id },
				{ by: "map", name: "can.emptied", id: emptied.id },
				{ by: "map", name: "other.thing", id: "x" },
				{ by: "map", name: "other.thing", id: "x" }
			]);
		} finally {
			await broker.stop();
		}
	});
});
