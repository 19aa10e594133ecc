/**
 * The README's promise, as a new user runs it: `npm start` serves GET /levels with the
 * simulator's 10 cans (the time it took is printed), and stops gracefully on SIGTERM.
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { START_FLAGS } from "../../harness/deployment";
import { freePort } from "../../harness/servers";
import { eventually } from "../../harness/system";

const ROOT = path.resolve(__dirname, "../..");
/** The pids whose parent is `pid` (npm runs the app as its child). */
const childrenOf = (pid: number) =>
	fs
		.readdirSync("/proc")
		.filter(entry => /^\d+$/.test(entry))
		.filter(entry => {
			try {
				// the field after the parenthesised command name is the state, then the ppid
				return Number(fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1]) === pid;
			} catch {
				return false; // gone meanwhile
			}
		})
		.map(Number);

it("npm start's prestart compiles dist/ when a source is newer, and does nothing when it is fresh", () => {
	const stamp = path.join(ROOT, "dist/.built");
	const build = () => execFileSync(process.execPath, ["scripts/build.js", "--if-stale"], { cwd: ROOT, stdio: "pipe" }).toString();
	build();
	const fresh = fs.statSync(stamp).mtimeMs;
	expect(build()).toBe("");
	expect(fs.statSync(stamp).mtimeMs).toBe(fresh);

	// a source edited after the last build (its time moved past the stamp's)
	const source = path.join(ROOT, "lib/config.ts");
	const future = new Date(fresh + 2_000);
	fs.utimesSync(source, future, future);
	build();
	expect(fs.statSync(stamp).mtimeMs).toBeGreaterThan(fresh);
	expect(fs.existsSync(path.join(ROOT, "dist/lib/config.js"))).toBe(true);
	expect(fs.existsSync(path.join(ROOT, "dist/public/index.html"))).toBe(true);
}, 60_000);

it("npm start serves the simulator's 10 cans and stops gracefully on SIGTERM", async () => {
	const [port, metricsPort] = [await freePort(), await freePort()];
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-start-"));
	const child = spawn("npm", ["start", "--silent"], {
		cwd: ROOT,
		env: {
			...process.env,
			PORT: String(port),
			METRICS_PORT: String(metricsPort),
			METRICS: "true",
			DATA_DIR: dataDir,
			SIM_AUTOSTART: "true",
			LOG_LEVEL: "info"
		},
		stdio: ["ignore", "pipe", "pipe"]
	});
	let output = "";
	child.stdout.on("data", chunk => (output += chunk));
	child.stderr.on("data", chunk => (output += chunk));
	// "close" waits for the app itself (npm's child) to let go of stdout, not just for npm.
	const closed = new Promise<void>(resolve => child.on("close", () => resolve()));
	const started = Date.now();
	try {
		const levels = await eventually(
			async () => {
				const res = await fetch(`http://127.0.0.1:${port}/levels`);
				const body = (await res.json()) as { canId: string }[];
				return res.status === 200 && body.length === 10 && body;
			},
			15_000,
			100
		);
		// Speed is the bench's business (machines here are noisy); the test prints it. The issue's
		// bar is 5 s; the wait above gives up at 15 s.
		console.log(`[npm start] 10 cans served ${Date.now() - started} ms after the command`);
		expect(levels.map(l => l.canId)).toEqual(["301", "302", "303", "304", "305", "306", "307", "308", "309", "310"]);

		// the app is plain JavaScript compiled to dist/: no TypeScript loader in the process
		const app = childrenOf(child.pid!).map(pid => fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean));
		expect(app).toEqual([[expect.stringMatching(/node$/), ...START_FLAGS, "dist/bin/start.js"]]);
		expect(fs.readFileSync(`/proc/${childrenOf(child.pid!)[0]}/environ`, "utf8")).not.toMatch(/NODE_OPTIONS=[^\0]*(tsx|--import|--require)/);

		const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
		expect(metrics).toMatch(/moleculer_request_total\{.*action="trashReport.levels"/);
		expect(metrics).toMatch(/microservices_workers_total\{[^}]*type="trashReport"\} 1/);
	} finally {
		child.kill("SIGTERM");
	}
	await closed;
	expect(output).toContain("ServiceBroker is stopped. Good bye.");
	expect(output).not.toMatch(/FATAL|DeprecationWarning|Unhandled/);
	// The only errors allowed are 503s answered while the services were still registering.
	expect(output.split("\n").filter(line => / ERROR /.test(line) && !/ServiceUnavailableError/.test(line))).toEqual([]);
	await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
}, 30_000);
