/// <reference lib="dom" />
/**
 * The live dashboard (issue #8) in a real browser: Debian's Chromium, headless, driven by
 * playwright-core against a real gateway. The page gets its state from the gateway's event
 * stream (/events), so what it shows must equal what the REST API answers, follow bursts of
 * reports within 2 s, and come back by itself — in sync — after the gateway restarted.
 * The fleet parts (#19) — forecasts, the pick list, the map, a can's history — equal their
 * REST answers too, work with no tile server reachable, and show a can's name as text.
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
import type { Can, CanLevel, LevelPoint, SimulatedCan } from "../../lib/contracts";
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
const HOUR = 3_600_000;
/** A name as anyone with write access may give a can: it must be shown as text, never run. */
const HOSTILE_NAME = `<img src=x onerror="window.pwned=1">Main St & <b>5th</b>`;

/** Opens the dashboard and collects every console error, uncaught page error and request beyond the gateway. */
async function openDashboard(browser: Browser, url: string, viewport = DESKTOP): Promise<{ page: Page; problems: string[] }> {
	const page = await browser.newPage({ viewport });
	const problems: string[] = [];
	page.on("console", msg => msg.type() === "error" && problems.push(`console: ${msg.text()} (${msg.location().url})`));
	page.on("pageerror", err => problems.push(`page error: ${err.message}`));
	// no CDN, no tile server: the page needs nothing but its gateway
	page.on("request", req => !req.url().startsWith(url) && !req.url().startsWith("data:") && problems.push(`request beyond the gateway: ${req.url()}`));
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
		for (const [file, type] of [
			["leaflet.js", /^text\/javascript/],
			["leaflet.css", /^text\/css/]
		] as const) {
			const res = await fetch(`${sys.url}/vendor/${file}`);
			expect(res.status).toBe(200);
			expect(res.headers.get("content-type")).toMatch(type);
			expect(await res.text()).toBe(fs.readFileSync(require.resolve(`leaflet/dist/${file}`), "utf8"));
		}
		expect(await page.evaluate(() => typeof (window as unknown as { L: { map: unknown } }).L.map)).toBe("function");
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

	describe("the fleet (#19)", () => {
		const reportedAt = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
		const report = async (canId: string, level: number, msAgo: number) =>
			expect((await sys.request("POST", "/levels", { can_id: canId, level, reportedAt: reportedAt(msAgo) })).status).toBe(202);
		const card = (canId: string) => page.locator(`[data-testid="can"][data-can-id="${canId}"]`);
		let area: { south: number; west: number };

		beforeAll(async () => {
			area = config.simArea;
			// registered first, so the page reads the registry when the can's first level arrives
			expect(
				(await sys.request("PUT", "/cans/filling", { name: HOSTILE_NAME, location: { lat: area.south + 0.002, lon: area.west + 0.002 }, capacityLitres: 240 }))
					.status
			).toBe(201);
			// 10 % an hour for three hours: at 50 % now, full (80 %) in three hours
			for (const [level, hoursAgo] of [
				[20, 3],
				[30, 2],
				[40, 1],
				[50, 0]
			])
				await report("filling", level, hoursAgo * HOUR);
			// over the threshold: full
			await report("brimful", 70, 2 * HOUR);
			await report("brimful", 90, HOUR);
			// not filling: no forecast
			await report("steady", 30, 2 * HOUR);
			await report("steady", 30, HOUR);
			await eventually(
				async () => ((await sys.get("/levels/filling")).body as CanLevel).level === 50 && ((await sys.get("/levels/steady")).body as CanLevel).fillRate === 0
			);
		});

		it("shows each can's state, fill rate and time to full, as GET /levels has them", async () => {
			const filling = (await sys.get("/levels/filling")).body as CanLevel;
			expect(filling).toMatchObject({ state: "normal", fillRate: expect.closeTo(10, 1) });
			expect(Math.abs(Date.parse(filling.fullAt!) - (Date.now() + 3 * HOUR))).toBeLessThan(5 * 60_000);
			await eventually(async () => (await card("filling").getAttribute("data-reported-at")) === filling.reportedAt, 3_000);
			expect(await card("filling").getAttribute("data-state")).toBe("normal");
			expect(await card("filling").locator('[data-testid="can-state"]').textContent()).toBe("normal");
			expect(await card("filling").locator('[data-testid="can-rate"]').textContent()).toBe(`+${filling.fillRate!.toFixed(1)} %/h`);
			// "full in 3 h" give or take the minutes the reports took
			const fullIn = await card("filling").locator('[data-testid="can-full-in"]').textContent();
			expect(fullIn).toMatch(/^full in (2 h 5\d min|3 h( [0-4] min)?)$/);
			const minutes = Math.floor((Date.parse(filling.fullAt!) - Date.now()) / 60_000);
			expect([minutes, minutes - 1].map(m => (m % 60 ? `full in ${Math.floor(m / 60)} h ${m % 60} min` : `full in ${m / 60} h`))).toContain(fullIn);

			await eventually(async () => (await card("brimful").getAttribute("data-state")) === "full", 3_000);
			// full since the report that crossed the threshold (the badge says "full" already)
			const brimful = (await sys.get("/levels/brimful")).body as CanLevel;
			expect(await card("brimful").locator('[data-testid="can-full-in"]').textContent()).toBe(
				`full since ${await page.evaluate(at => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }), brimful.fullAt!)}`
			);
			expect(Date.parse(brimful.fullAt!)).toBeLessThan(Date.now() - HOUR / 2);
			expect(await card("steady").locator('[data-testid="can-rate"]').textContent()).toBe("+0.0 %/h");
			expect(await card("steady").locator('[data-testid="can-full-in"]').textContent()).toBe("");
			expect(await card("steady").getAttribute("data-state")).toBe(((await sys.get("/levels/steady")).body as CanLevel).state);
		});

		/** The pick list as the page shows it, and as GET /levels?fullBefore= answers for the same time. */
		async function pickLists() {
			const list = page.locator('[data-testid="pick-list"]');
			const fullBefore = await list.getAttribute("data-full-before");
			const onPage = await page.$$eval('[data-testid="pick-can"]', els => els.map(el => (el as HTMLElement).dataset.canId!));
			const api = ((await sys.get(`/levels?fullBefore=${encodeURIComponent(fullBefore!)}`)).body as CanLevel[]).map(can => can.canId);
			return { fullBefore: fullBefore!, onPage, api };
		}

		it("lists the cans full by the time chosen, soonest first, as GET /levels?fullBefore= does", async () => {
			const choose = async (value: string, expectFilling: boolean) => {
				const loaded = await page.locator('[data-testid="pick-list"]').getAttribute("data-loaded");
				await page.selectOption('[data-testid="full-before"]', value);
				await page.waitForFunction(before => document.querySelector<HTMLElement>('[data-testid="pick-list"]')!.dataset.loaded !== before, loaded);
				const lists = await pickLists();
				expect(lists.onPage).toEqual(lists.api);
				expect(lists.onPage.includes("filling")).toBe(expectFilling);
				return lists;
			};
			// the default: the next 4 h, which the filling can (3 h from full) is in
			expect(await page.locator('[data-testid="full-before"]').inputValue()).toBe("4");
			const fourHours = await choose("4", true);
			expect(Math.abs(Date.parse(fourHours.fullBefore) - (Date.now() + 4 * HOUR))).toBeLessThan(60_000);
			// already full: first
			expect(fourHours.onPage[0]).toBe("brimful");
			expect(fourHours.onPage).not.toContain("steady");
			const item = page.locator('[data-testid="pick-can"][data-can-id="filling"]');
			expect(await item.locator(".pick-when").textContent()).toMatch(/^full in (2 h 5\d min|3 h)/);
			// (the name comes from the registry, read when the can first reported)
			await eventually(async () => (await item.locator(".pick-name").textContent()) === HOSTILE_NAME, 3_000);
			await choose("1", false);
			// a custom time: five hours from now, in the page's local time
			await page.selectOption('[data-testid="full-before"]', "custom");
			expect(await page.locator('[data-testid="full-before-time"]').isVisible()).toBe(true);
			const loaded = await page.locator('[data-testid="pick-list"]').getAttribute("data-loaded");
			const local = await page.evaluate(() => new Date(Date.now() + 5 * 3_600_000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16));
			await page.fill('[data-testid="full-before-time"]', local);
			await page.waitForFunction(before => document.querySelector<HTMLElement>('[data-testid="pick-list"]')!.dataset.loaded !== before, loaded);
			const custom = await pickLists();
			expect(custom.onPage).toEqual(custom.api);
			expect(custom.onPage).toContain("filling");
			await choose("4", true);
		});

		it("maps every registered can with a location, coloured by its state, on a plain background (no tile server)", async () => {
			const located = async () => ((await sys.get("/cans")).body as Can[]).filter(can => can.location);
			const markers = () =>
				page.$$eval('[data-testid="can-marker"]', els => els.map(el => ({ canId: el.getAttribute("data-can-id")!, state: el.getAttribute("data-state")! })));
			// the simulator's 10 cans (registered when they first reported) and the filling one
			await eventually(async () => (await located()).length === 11 && (await markers()).length === 11, 10_000, 100);
			const levels = new Map(((await sys.get("/levels")).body as CanLevel[]).map(can => [can.canId, can.state]));
			expect((await markers()).sort((a, b) => a.canId.localeCompare(b.canId))).toEqual(
				(await located()).map(can => ({ canId: can.canId, state: levels.get(can.canId) ?? "unknown" })).sort((a, b) => a.canId.localeCompare(b.canId))
			);
			// drawn inside the map's box: the view was fitted to them without any tile
			const mapBox = (await page.locator('[data-testid="map"]').boundingBox())!;
			for (const marker of await page.locator('[data-testid="can-marker"]').all()) {
				const box = (await marker.boundingBox())!;
				expect(box.x).toBeGreaterThanOrEqual(mapBox.x);
				expect(box.y).toBeGreaterThanOrEqual(mapBox.y);
				expect(box.x + box.width).toBeLessThanOrEqual(mapBox.x + mapBox.width);
				expect(box.y + box.height).toBeLessThanOrEqual(mapBox.y + mapBox.height);
			}
			expect(await page.locator(".leaflet-tile").count()).toBe(0);
			expect(await page.locator('[data-testid="map"]').getAttribute("data-tiles")).toBeNull();
			expect(await page.locator('[data-testid="map-note"]').textContent()).toMatch(/^11 cans on the map; \d+ without a location$/);
			// coloured by state: the filling can is normal (green), the marker's fill says so
			expect(await page.locator('[data-testid="can-marker"][data-can-id="filling"]').getAttribute("fill")).toBe("#16a34a");
		});

		it("shows a can's history as a chart when it is clicked, in the list or on the map", async () => {
			await card("filling").click();
			await page.waitForSelector('[data-testid="history-svg"][data-points="4"]', { timeout: 3_000 });
			expect(await page.locator('[data-testid="history-can"]').textContent()).toBe(`Can filling · ${HOSTILE_NAME}`);
			const points = (await sys.get(`/levels/filling/history?from=${encodeURIComponent(reportedAt(6 * HOUR))}&step=5m`)).body as LevelPoint[];
			expect(points.map(p => p.level)).toEqual([20, 30, 40, 50]);
			// one vertex a point, left to right (older first), higher for a fuller can
			const vertices = (await page.locator('[data-testid="history-line"]').getAttribute("points"))!.split(" ").map(xy => xy.split(",").map(Number));
			expect(vertices).toHaveLength(4);
			for (let i = 1; i < 4; i++) {
				expect(vertices[i][0]).toBeGreaterThan(vertices[i - 1][0]);
				expect(vertices[i][1]).toBeLessThan(vertices[i - 1][1]);
			}
			// where it is heading: the forecast, dashed, from the last level on
			expect(await page.locator('[data-testid="history-forecast"]').count()).toBe(1);
			expect(await card("filling").getAttribute("class")).toContain("selected");

			// another range asks again with its own step
			const asked = page.waitForRequest(req => /\/levels\/filling\/history\?.*step=15m/.test(req.url()));
			await page.click('[data-testid="history-ranges"] button[data-range="24"]');
			await asked;
			await page.waitForSelector('[data-testid="history-svg"][data-points="4"]');

			// on the map: a simulated can
			await page.locator('[data-testid="can-marker"][data-can-id="303"]').click();
			await page.waitForFunction(() => document.querySelector('[data-testid="history-can"]')!.textContent === "Can 303 · Simulated can 303");
			const history = (await sys.get(`/levels/303/history?from=${encodeURIComponent(reportedAt(24 * HOUR))}&step=15m`)).body as LevelPoint[];
			await page.waitForSelector(`[data-testid="history-svg"][data-points="${history.length}"]`);
			expect(await card("303").getAttribute("class")).toContain("selected");
			await page.click('[data-testid="history-ranges"] button[data-range="6"]');
		});

		it("shows a can's name with markup in it as text, wherever it appears", async () => {
			await eventually(async () => (await card("filling").locator('[data-testid="can-name"]').textContent()) === HOSTILE_NAME, 3_000);
			await page.locator('[data-testid="can-marker"][data-can-id="filling"]').hover();
			expect(await page.locator(".leaflet-tooltip").last().textContent()).toContain(HOSTILE_NAME);
			// no element was made of it, and its script never ran
			expect(await page.locator("main img, main b").count()).toBe(0);
			expect(await page.locator(".leaflet-tooltip img").count()).toBe(0);
			expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
		});
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
