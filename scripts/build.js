/**
 * Compiles what runs (tsconfig.build.json: bin/, services/ and what they import) to dist/, so that
 * `npm start` and every service process run plain JavaScript with no TypeScript loader in them.
 *
 *   node scripts/build.js             type-checked build (`npm run build`, the Docker image)
 *   node scripts/build.js --if-stale  `npm start`'s prestart: nothing when dist/ is newer than every
 *                                     source, else a build without the type check (that is `npm test`'s job)
 *
 * Plain JavaScript on purpose: it runs before anything is compiled.
 */
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");
/** Written last: its time is when dist/ was complete. */
const STAMP = path.join(DIST, ".built");
/** What the build reads: if any of it is newer than the stamp, dist/ is stale. */
const SOURCES = [
	"bin",
	"lib",
	"middlewares",
	"mixins",
	"services",
	"types",
	"public",
	"broker.ts",
	"moleculer.config.ts",
	"tsconfig.json",
	"tsconfig.build.json",
	"package-lock.json"
];

function newestMtime(entry) {
	let stat;
	try {
		stat = fs.statSync(entry);
	} catch {
		return 0;
	}
	if (!stat.isDirectory()) return stat.mtimeMs;
	let newest = stat.mtimeMs; // a deleted file changes its directory's time
	for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
	return newest;
}

function stale() {
	let built;
	try {
		built = fs.statSync(STAMP).mtimeMs;
	} catch {
		return true;
	}
	return SOURCES.some(source => newestMtime(path.join(ROOT, source)) > built);
}

const ifStale = process.argv.includes("--if-stale");
if (ifStale && !stale()) process.exit(0);

const started = Date.now();
fs.rmSync(DIST, { recursive: true, force: true });
const tsc = require.resolve("typescript/bin/tsc");
try {
	execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json", ...(ifStale ? ["--noCheck"] : [])], { cwd: ROOT, stdio: "inherit" });
} catch {
	console.error("build: tsc failed (see above); dist/ is not usable");
	process.exit(1);
}
fs.cpSync(path.join(ROOT, "public"), path.join(DIST, "public"), { recursive: true });
fs.writeFileSync(STAMP, "");
if (ifStale) console.error(`build: sources changed, compiled to dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
