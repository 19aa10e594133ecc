/** `npm run burst -- --count N` publishes N reports and returns once all are applied. */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

it("publishes a burst on the embedded default and follows it until every report is applied", async () => {
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-burst-"));
	const { stdout, stderr } = await run("npm", ["run", "--silent", "burst", "--", "--count", "2500", "--batch", "500"], {
		cwd: path.resolve(__dirname, "../.."),
		env: { ...process.env, DATA_DIR: dataDir, TRANSPORTER: "", LOG_LEVEL: "warn" }
	});
	expect(stdout).toMatch(/^2500 reports: published in \d+ ms \(\d+\/s\), applied in \d+ ms \(\d+\/s\)$/m);
	expect(stderr).toContain("applied   [##############################] 2500/2500");
	// the reports went to the store, not just through the counters
	expect(fs.readFileSync(path.join(dataDir, "levels.db"), "utf8")).toContain('"_id":"301"');
}, 60_000);

it("refuses a count it cannot mean", async () => {
	await expect(run("npm", ["run", "--silent", "burst", "--", "--count", "zero"], { cwd: path.resolve(__dirname, "../..") })).rejects.toMatchObject({ code: 2 });
});
