/// <reference lib="dom" />
/**
 * The live dashboard (issue #8) in a real browser: Debian's Chromium, headless, driven by
 * playwright-core against a real gateway. The page gets its state from the gateway's event
 * stream (/events), so what it shows must equal what the REST API answers, follow bursts of
 * reports within 2 s, and come back by itself — in sync — after the gateway restarted.
 */
import fs from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { config } from "../../lib/config";
import type { CanLevel, SimulatedCan } from "../../lib/contracts";
import { LIVE_PATH, LiveEventsMixin, liveRoutes } from "../../services/rest/dashboard";
import type { LiveSnapshot } from "../../services/rest/dashboard";
import type { Worker } from "../../lib/contracts";
import { startDeployment } from "../../harness/deployment";
import type { Deployment } from "../../harness/deployment";
import { eventually, startSystem } from "../../harness/system";
import type { System } from "../../harness/system";

const ARTIFACTS = path.resolve(__dirname, "../../test-artifacts");
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const THRESHOLD = config.fullThreshold;

/** Opens the dashboard and collects every console error and uncaught page error. */
async function openDashboard(browser: Browser, url: string, viewport = DESKTOP): Promise<{ page: Page; problems: string[] }> {
	const page = await browser.newPage({ viewport });
	const problems: string[] = [];
	page.on("console", msg => msg.type() === "error" && problems.push(`console: ${msg.text()} (${msg.location().url})`));
	page.on("pageerror", err => problems.push(`page error: ${err.message}`));
	await page.goto(url + "/");
	await page.waitForSelector('[data-testid="connection"][data-state="live"][data-snapshots]');
	return { page, problems };
}

/** canId → level, as the bars on the page say. */
const barLevels = (page: Page) =>
	page.$$eval('[data-testid="can"]', els => Object.fromEntries(els.map(el => [(el as HTMLElement).dataset.canId!, Number((el as HTMLElement).dataset.level)])));

const levelsOf = (levels: CanLevel[]) => Object.fromEntries(levels.map(can => [can.canId, can.level]));

/**
 * Runs a simulator burst and waits until trashReport has applied it (the call returns once the
 * reports are on the bus): every can at the level the simulator last reported. canId → level.
 */
async function burstApplied(broker: ServiceBroker, count: number): Promise<Record<string, number>> {
	await broker.call("simulator.burst", { count });
	const sent = Object.fromEntries((await broker.call<SimulatedCan[], object>("simulator.cans", {})).map(can => [can.canId, can.level]));
	return eventually(async () => {
		const levels = levelsOf(await broker.call<CanLevel[], object>("trashReport.levels", {}));
		return isDeepStrictEqual(levels, sent) && levels;
	}, 10_000);
}

/** The workers table as data, in the shape of GET /workers. */
const workersOnPage = (page: Page) =>
	page.$$eval('[data-testid="worker"]', rows =>
		rows.map(row => ({
			type: (row as HTMLElement).dataset.type!,
			nodes: Array.from(row.querySelectorAll('[data-testid="worker-node"]'), node => node.textContent!),
			instances: Number(row.querySelector('[data-testid="worker-instances"]')!.textContent)
		}))
	);

describe("the live dashboard", () => {
	let browser: Browser;
	let sys: System;
	let page: Page;
	let problems: string[];

	beforeAll(async () => {
		fs.mkdirSync(ARTIFACTS, { recursive: true });
		[browser, sys] = await Promise.all([launchChromium(), startSystem()]);
		// one report per can, so the page has bars to show
		await sys.broker.call("simulator.burst", { count: 10 });
		({ page, problems } = await openDashboard(browser, sys.url));
	});
	afterAll(async () => {
		await browser?.close();
		await sys?.stop();
	});

	it("is served by the gateway: page, script, style and uPlot from node_modules", async () => {
		const html = await sys.get("/");
		expect(html.status).toBe(200);
		expect(html.headers.get("content-type")).toMatch(/^text\/html/);
		expect(html.body).toContain('<script src="/app.js">');
		const uplot = await fetch(sys.url + "/vendor/uPlot.iife.min.js");
		expect(uplot.status).toBe(200);
		expect(uplot.headers.get("content-type")).toMatch(/^text\/javascript/);
		expect(await uplot.text()).toBe(fs.readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"));
		expect((await fetch(sys.url + "/vendor/uPlot.min.css")).status).toBe(200);
		expect((await sys.get("/style.css")).status).toBe(200);
		// the page asks for nothing that is not there (a favicon 404 would be a console error)
		expect(await page.evaluate(() => typeof (window as unknown as { uPlot: unknown }).uPlot)).toBe("function");
		expect(await page.locator(".uplot canvas").count()).toBe(1);
	});

	it("shows every can with its level and report time, as GET /levels has them", async () => {
		const levels = (await sys.get("/levels")).body as CanLevel[];
		expect(levels).toHaveLength(10);
		await eventually(async () => isDeepStrictEqual(await barLevels(page), levelsOf(levels)), 2_000);
		const first = page.locator('[data-testid="can"]').first();
		expect(await first.getAttribute("data-reported-at")).toBe(levels[0].reportedAt);
		expect(await first.locator('[data-testid="can-level"]').textContent()).toBe(`${levels[0].level.toFixed(2)} %`);
		expect(await first.locator('[data-testid="can-time"]').textContent()).toMatch(/^reported \d\d:\d\d:\d\d · \d+ (s|min) ago$/);
		expect(await page.locator('[data-testid="cans-count"]').textContent()).toBe("10");
	});

	it("moves the bars within 2 s of a simulator burst, without a reload", async () => {
		const before = await barLevels(page);
		const started = Date.now();
		await sys.broker.call("simulator.burst", { count: 300 });
		await eventually(
			async () => {
				const now = await barLevels(page);
				return Object.keys(before).filter(canId => now[canId] !== before[canId]).length === 10;
			},
			2_000 - (Date.now() - started),
			20
		);
		console.log(`dashboard: every bar changed ${Date.now() - started} ms after the burst of 300 reports began`);
		// once the burst is applied, the bars show exactly what the store has
		await eventually(async () => isDeepStrictEqual(await barLevels(page), levelsOf((await sys.get("/levels")).body)), 5_000, 100);
		// the chart gets one point per second, after the second is over
		await eventually(async () => Number(await page.locator('[data-testid="rate-peak"]').textContent()) > 0, 3_000, 100);
	});

	it("lists as full exactly the cans of GET /levels?min=<threshold>, fullest first, in red", async () => {
		// one over, one exactly at and one just under the threshold
		for (const [canId, level] of [
			["full-1", 97],
			["edge", THRESHOLD],
			["almost", THRESHOLD - 0.01]
		] as const)
			expect((await sys.request("POST", "/levels", { can_id: canId, level })).status).toBe(202);
		const fullIds = (levels: CanLevel[]) => levels.map(can => can.canId).sort();
		const onPage = () => page.$$eval('[data-testid="full-can"]', els => els.map(el => (el as HTMLElement).dataset.canId!));
		let full: CanLevel[] = [];
		await eventually(async () => {
			full = (await sys.get(`/levels?min=${THRESHOLD}`)).body;
			return full.some(can => can.canId === "edge") && JSON.stringify([...(await onPage())].sort()) === JSON.stringify(fullIds(full));
		}, 3_000);
		expect(await onPage()).toEqual(
			[...full].sort((a, b) => b.level - a.level || a.canId.localeCompare(b.canId, "en", { numeric: true })).map(can => can.canId)
		);
		expect(await onPage()).not.toContain("almost");
		expect(await page.locator('[data-testid="full-count"]').textContent()).toBe(String(full.length));
		expect(await page.locator('[data-testid="threshold"]').textContent()).toBe(String(THRESHOLD));
		const bandOf = (canId: string) => page.locator(`[data-testid="can"][data-can-id="${canId}"]`).getAttribute("data-band");
		expect(await bandOf("edge")).toBe("red");
		expect(await bandOf("almost")).toBe(THRESHOLD > 50 ? "amber" : "green");
	});

	it("lists the workers of GET /workers and follows worker.new / worker.del", async () => {
		expect(await workersOnPage(page)).toEqual((await sys.get("/workers")).body as Worker[]);
		const extra = await sys.broker.createService({ name: "extraWorker" } as ServiceSchema);
		await eventually(async () => (await workersOnPage(page)).some(w => w.type === "extraWorker"), 3_000);
		expect(await workersOnPage(page)).toEqual((await sys.get("/workers")).body);
		await sys.broker.destroyService(extra);
		await eventually(async () => !(await workersOnPage(page)).some(w => w.type === "extraWorker"), 3_000);
		expect(await workersOnPage(page)).toEqual((await sys.get("/workers")).body);
	});

	it("counts the movies of GET /movies and follows new ones", async () => {
		expect((await sys.request("POST", "/movies", { title: "Alien", year: 1979 })).status).toBe(201);
		const total = ((await sys.get("/movies?pageSize=1")).body as { total: number }).total;
		await eventually(async () => (await page.locator('[data-testid="movies-count"]').textContent()) === String(total), 3_000);
	});

	it("fits desktop and phone widths; screenshots in test-artifacts/", async () => {
		await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-desktop.png"), fullPage: true });
		// desktop: full cans and the chart side by side
		const fullBox = (await page.locator(".area-full").boundingBox())!;
		const rateBox = (await page.locator(".area-rate").boundingBox())!;
		expect(rateBox.x).toBeGreaterThan(fullBox.x + fullBox.width - 1);

		const phone = await openDashboard(browser, sys.url, PHONE);
		problems.push(...phone.problems);
		await phone.page.screenshot({ path: path.join(ARTIFACTS, "dashboard-phone.png"), fullPage: true });
		// one column, nothing wider than the screen
		expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
		const boxes = await Promise.all([".area-full", ".area-cans", ".area-rate", ".area-workers"].map(sel => phone.page.locator(sel).boundingBox()));
		for (const box of boxes) expect(box!.x).toBe(boxes[0]!.x);
		expect(boxes.map(box => box!.y)).toEqual([...boxes.map(box => box!.y)].sort((a, b) => a - b));
		await phone.page.close();
		expect(fs.statSync(path.join(ARTIFACTS, "dashboard-phone.png")).size).toBeGreaterThan(10_000);
	});

	it("logged no console error and no page error", () => {
		expect(problems).toEqual([]);
	});
});

/** Reads a server-sent event stream until `until` matches what arrived. */
async function readStream(res: Response, until: RegExp, timeoutMs = 3_000): Promise<string> {
	const reader = res.body!.getReader();
	const deadline = Date.now() + timeoutMs;
	let text = "";
	while (!until.test(text)) {
		if (Date.now() > deadline) throw new Error(`stream did not match ${until} within ${timeoutMs} ms: ${text.slice(0, 300)}`);
		const { value, done } = await reader.read();
		if (done) break;
		text += new TextDecoder().decode(value);
	}
	await reader.cancel();
	return text;
}

describe("the event stream's bounds (a second gateway with small limits, on the same broker)", () => {
	let sys: System;
	let url: string;
	beforeAll(async () => {
		sys = await startSystem(["rest", "systemManager", "trashReport"]);
		const probe = sys.broker.createService({
			name: "liveProbe",
			mixins: [LiveEventsMixin({ maxClients: 1, heartbeatMs: 100 }), ApiGateway],
			settings: { port: 0, routes: liveRoutes },
			methods: { authorize() {} }
		} as ServiceSchema) as unknown as { server: Server };
		await sys.broker.waitForServices("liveProbe");
		url = `http://127.0.0.1:${(probe.server.address() as AddressInfo).port}${LIVE_PATH}`;
	});
	afterAll(() => sys?.stop());

	it("starts with a reconnect delay and a snapshot, sends heartbeats and refuses clients beyond the limit", async () => {
		const first = await fetch(url);
		expect(first.headers.get("cache-control")).toBe("no-cache, no-transform");
		const second = await fetch(url);
		expect(second.status).toBe(503);
		expect(second.headers.get("retry-after")).toBe("5");
		const text = await readStream(first, /: heartbeat\n\n/);
		expect(text.startsWith("retry: 1000\n\nevent: snapshot\ndata: ")).toBe(true);
		const snapshot = JSON.parse(/^data: (.*)$/m.exec(text)![1]) as LiveSnapshot;
		expect(snapshot).toMatchObject({
			nodeID: sys.broker.nodeID,
			fullThreshold: THRESHOLD,
			levels: (await sys.get("/levels")).body,
			workers: (await sys.get("/workers")).body
		});
		// no pilot in this system: the movie count is unknown, and the stream will ask again
		expect(snapshot.movies).toBeNull();
		// the closed stream frees its place
		await eventually(async () => (await fetch(url).then(res => (res.body?.cancel(), res.status))) === 200, 2_000, 50);
	});
});

describe("the live dashboard with API_TOKEN_READS", () => {
	let sys: System;
	beforeAll(async () => {
		sys = await startSystem(["rest", "systemManager"], {}, { rest: { apiToken: "s3cret", apiTokenReads: true } });
	});
	afterAll(() => sys?.stop());

	it("serves the page and uPlot (no data) but its event stream only with the token", async () => {
		expect((await sys.get("/")).status).toBe(200);
		expect((await sys.get("/vendor/uPlot.iife.min.js")).status).toBe(200);
		expect((await sys.get("/events")).status).toBe(401);
		const controller = new AbortController();
		const stream = await fetch(sys.url + "/events", { headers: { authorization: "Bearer s3cret" }, signal: controller.signal });
		expect(stream.status).toBe(200);
		expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
		const reader = stream.body!.getReader();
		let text = "";
		while (!text.includes("event: snapshot")) text += new TextDecoder().decode((await reader.read()).value);
		controller.abort();
	});

	it("the page, which cannot send the token, says why it shows nothing", async () => {
		const browser = await launchChromium();
		try {
			const page = await browser.newPage();
			await page.goto(sys.url + "/");
			await page.waitForSelector('[data-testid="notice"]:not([hidden])', { timeout: 5_000 });
			expect(await page.locator('[data-testid="notice"]').textContent()).toContain("API_TOKEN_READS");
			expect(await page.locator('[data-testid="connection"]').getAttribute("data-state")).not.toBe("live");
			expect(await page.locator('[data-testid="can"]').count()).toBe(0);
		} finally {
			await browser.close();
		}
	});
});

describe("the live dashboard across a gateway restart (NATS, gateway in its own process)", () => {
	let browser: Browser;
	let deployment: Deployment;

	beforeAll(async () => {
		[browser, deployment] = await Promise.all([
			launchChromium(),
			startDeployment("nats", {
				layout: [
					["gateway", ["rest", "systemManager"]],
					["back", ["pilot", "db", "trashReport", "simulator"]]
				]
			})
		]);
	}, 90_000);
	afterAll(async () => {
		await browser?.close();
		await deployment?.stop();
	});

	it("reconnects by itself, resyncs what it missed and shows new events, without a reload", async () => {
		await deployment.broker.call("simulator.burst", { count: 10 });
		const { page, problems } = await openDashboard(browser, deployment.url);
		await eventually(async () => Object.keys(await barLevels(page)).length === 10, 3_000);
		await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
		const snapshots = () => page.locator('[data-testid="connection"]').evaluate(el => Number((el as HTMLElement).dataset.snapshots));
		const snapshotsBefore = await snapshots();

		const gateway = deployment.procs.find(p => p.name === "gateway")!;
		const stopping = Date.now();
		await deployment.kill(gateway, "SIGTERM");
		const code = await gateway.exited;
		console.log(`dashboard: gateway with an open event stream exited ${code} ${Date.now() - stopping} ms after SIGTERM`);
		expect(code).toBe(0);
		expect(Date.now() - stopping).toBeLessThan(10_000);
		await page.waitForSelector('[data-testid="connection"][data-state="reconnecting"]', { timeout: 3_000 });

		// reports applied while no gateway runs: the page can only learn them from the next snapshot
		const missed = await burstApplied(deployment.broker, 50);
		expect(await barLevels(page)).not.toEqual(missed);

		await deployment.spawn("gateway", ["rest", "systemManager"]);
		await page.waitForFunction(
			before => {
				const status = document.querySelector<HTMLElement>('[data-testid="connection"]')!;
				return status.dataset.state === "live" && Number(status.dataset.snapshots) > before;
			},
			snapshotsBefore,
			{ timeout: 30_000 }
		);
		expect(await barLevels(page)).toEqual(missed);

		// Right after its start the other nodes do not send the new gateway their events yet (they
		// learn its subscriptions a second later): a burst now must still end up on the page.
		const afterBurst = await burstApplied(deployment.broker, 20);
		await eventually(async () => isDeepStrictEqual(await barLevels(page), afterBurst), 4_000);

		// and live again: a burst moves the bars within 2 s
		const before = await barLevels(page);
		const started = Date.now();
		await deployment.broker.call("simulator.burst", { count: 20 });
		await eventually(async () => !isDeepStrictEqual(await barLevels(page), before), 2_000, 20);
		console.log(`dashboard: after the restart, bars moved ${Date.now() - started} ms after a burst`);
		expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
		expect(await workersOnPage(page)).toEqual((await deployment.get("/workers")).body);
		await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-after-restart.png"), fullPage: true });

		// while the gateway was down the browser logs its refused connections; nothing else may fail
		expect(problems.filter(p => !/ERR_CONNECTION_REFUSED|\/events/.test(p))).toEqual([]);
		console.log(`dashboard: console lines during the restart: ${JSON.stringify(problems)}`);
	}, 60_000);
});
