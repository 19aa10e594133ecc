/**
 * Remakes docs/dashboard.png (the README's picture) from the real thing: `npm start` on a private
 * port and data dir, its simulator reporting every 0.5 s, a few movies, and the last 6 h of each
 * can posted as late reports (`reportedAt`) that lead up to the simulated level at the fill rate
 * the system works out, emptied whenever they would go below 3 %; then the page in Debian's
 * headless Chromium with one can's history open.
 *
 *   npx tsx scripts/dashboard-screenshot.ts [--out docs/dashboard.png] [--warmup 60]
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../harness/servers";
import { launchChromium } from "../test/support/chromium";

const { values } = parseArgs({ options: { out: { type: "string", default: "docs/dashboard.png" }, warmup: { type: "string", default: "20" } } });

async function main() {
	const [port, metricsPort] = [await freePort(), await freePort()];
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dashboard-"));
	const app = spawn("npm", ["start", "--silent"], {
		env: {
			...process.env,
			PORT: String(port),
			METRICS_PORT: String(metricsPort),
			DATA_DIR: dataDir,
			SIM_INTERVAL_MS: "500",
			LOG_LEVEL: "warn",
			RATE_LIMIT: "0"
		},
		stdio: "inherit",
		detached: true
	});
	const base = `http://127.0.0.1:${port}`;
	try {
		for (let t = Date.now(); (await fetch(`${base}/health/ready`).catch(() => null))?.status !== 200;) {
			if (Date.now() - t > 30_000) throw new Error("npm start did not get ready within 30 s");
			await new Promise(r => setTimeout(r, 250));
		}
		await new Promise(r => setTimeout(r, Number(values.warmup) * 1_000));
		const post = (url: string, body: object) =>
			fetch(`${base}${url}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
		for (const [title, year] of [
			["Alien", 1979],
			["Heat", 1995],
			["Arrival", 2016],
			["Le Samouraï", 1967]
		] as const)
			await post("/movies", { title, year });
		const rows = (await (await fetch(`${base}/levels`)).json()) as { canId: string; level: number; fillRate: number | null }[];
		const now = Date.now();
		for (const { canId, level, fillRate } of rows) {
			for (let k = 1, at = level; k <= 72; k++) {
				at -= ((fillRate ?? 10) * 5) / 60;
				if (at < 3) at += 85;
				await post("/levels", { can_id: canId, level: at.toFixed(2), reportedAt: new Date(now - k * 300_000).toISOString() });
			}
		}
		await new Promise(r => setTimeout(r, 5_000));
		const browser = await launchChromium();
		const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
		await page.goto(base);
		await page.waitForTimeout(3_000);
		await page.locator("[data-can-id]").first().click();
		await page.waitForTimeout(1_500);
		await page.screenshot({ path: values.out, fullPage: true });
		await browser.close();
		console.log(`wrote ${values.out}`);
	} finally {
		process.kill(-app.pid!, "SIGTERM");
		await once(app, "exit");
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
