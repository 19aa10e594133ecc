/**
 * Runs a docker-compose file's application services without a container engine: the file as
 * `docker-compose config` resolves it (interpolated from an env file, anchors merged), each
 * service's command and environment as the image would run them (the Dockerfile's CMD, ENV and
 * HEALTHCHECK), one local OS process per replica, on the production build in dist/.
 *
 * What a container engine would provide differently is remapped, and only that:
 *  - the image → a directory laid out like it (`assembleImage`): dist/ and production
 *    node_modules only, so a run-time import of a dev dependency fails here as in the image;
 *  - compose host names (`nats`, `rabbitmq`, `postgres`) → the local servers the test started;
 *  - container ports → free loopback ports (`PORT` of the gateway, `METRICS_PORT` of everyone);
 *  - `DATA_DIR` → a private dir per process;
 *  - `NAMESPACE` → unique per run, since the test bus is shared with other test files.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { spawnApp, stopApp } from "../../harness/deployment";
import type { AppProcess } from "../../harness/deployment";
import { freePort } from "../../harness/servers";

export const ROOT = path.resolve(__dirname, "../..");

export interface ComposeService {
	image?: string;
	build?: unknown;
	command?: string[] | string;
	environment?: Record<string, string | null>;
	depends_on?: Record<string, { condition: string }>;
	deploy?: { replicas?: number };
	healthcheck?: { test: string[] | string };
	ports?: unknown[];
	volumes?: (string | { type: string; source: string; target: string })[];
}

export interface ComposeFile {
	services: Record<string, ComposeService>;
	volumes?: Record<string, unknown>;
}

/** `docker-compose -f <files> --env-file <envFile> config`, parsed; rejects with its output on a non-zero exit. */
export function composeConfig(files: string[], envFile: string): Promise<ComposeFile> {
	const args = [...files.flatMap(f => ["-f", path.resolve(ROOT, f)]), "--env-file", envFile, "config"];
	return new Promise((resolve, reject) => {
		// only the env file interpolates: variables of the caller's shell would override it
		const env = { PATH: process.env.PATH, HOME: process.env.HOME };
		execFile("docker-compose", args, { cwd: ROOT, env, timeout: 30_000 }, (err, stdout, stderr) => {
			if (err) reject(new Error(`docker-compose ${args.join(" ")} failed: ${stderr || err.message}`));
			else resolve(parse(stdout) as ComposeFile);
		});
	});
}

/** The final stage of the Dockerfile: what every application container runs. */
export interface ImageSpec {
	workdir: string;
	user: string;
	env: Record<string, string>;
	cmd: string[];
	healthcheck: string[];
	/** The whole Dockerfile, for checks on the earlier stages. */
	text: string;
}

export function imageSpec(file = path.join(ROOT, "Dockerfile")): ImageSpec {
	const text = fs.readFileSync(file, "utf8");
	// one instruction per logical line: join continuations, drop comments
	const lines = text
		.replace(/\\\n/g, " ")
		.split("\n")
		.map(l => l.trim())
		.filter(l => l && !l.startsWith("#"));
	const finalStage = lines.slice(lines.map(l => /^FROM\s/i.test(l)).lastIndexOf(true));
	const spec: ImageSpec = { workdir: "/", user: "root", env: {}, cmd: [], healthcheck: [], text };
	for (const line of finalStage) {
		const [, instruction, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
		switch (instruction?.toUpperCase()) {
			case "WORKDIR":
				spec.workdir = rest;
				break;
			case "USER":
				spec.user = rest;
				break;
			case "ENV":
				for (const [, key, quoted, bare] of rest.matchAll(/(\w+)=(?:"([^"]*)"|(\S+))/g)) spec.env[key] = quoted ?? bare;
				break;
			case "CMD":
				spec.cmd = JSON.parse(rest);
				break;
			case "HEALTHCHECK":
				spec.healthcheck = JSON.parse(rest.slice(rest.indexOf("CMD ") + 4));
				break;
		}
	}
	return spec;
}

/** Application services: the ones that run this repository's image. */
export function appServices(compose: ComposeFile): [string, ComposeService][] {
	return Object.entries(compose.services).filter(([, svc]) => svc.build !== undefined || svc.image?.startsWith("trash-bus"));
}

export interface ComposeProcess extends AppProcess {
	service: string;
	replica: number;
	env: Record<string, string>;
	/** Runs the service's health check command (exec form) with the process's env; resolves its exit code. */
	healthcheck(): Promise<number | null>;
}

export interface ComposeRun {
	procs: ComposeProcess[];
	/** The gateway's URL (the process that runs `rest`). */
	gatewayUrl: string;
	stop(): Promise<void>;
	logs(): string;
}

/**
 * A directory laid out like the image's WORKDIR, from the current dist/ (run `npm run build`
 * first): what the Dockerfile copies into the final stage, and production dependencies installed
 * as it installs them (from the npm cache when it has them). No node_modules above it.
 */
export async function assembleImage(): Promise<string> {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-image-"));
	for (const file of ["package.json", "package-lock.json"]) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
	fs.cpSync(path.join(ROOT, "dist"), path.join(dir, "dist"), { recursive: true });
	await new Promise<void>((resolve, reject) =>
		execFile(
			"npm",
			["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
			{ cwd: dir, timeout: 120_000 },
			(err, _out, stderr) => (err ? reject(new Error(`npm ci --omit=dev failed: ${stderr || err.message}`)) : resolve())
		)
	);
	return dir;
}

/** `["node", "dist/bin/x.js"]` as it would run in the image's WORKDIR → this machine's Node (24) in `imageDir`. */
function localCommand(argv: string[], image: ImageSpec, imageDir: string): [string, string[]] {
	const [bin, ...args] = argv;
	if (bin !== "node") throw new Error(`expected a node command, got ${argv.join(" ")}`);
	const inImage = (arg: string) => (arg.startsWith("-") ? arg : path.join(imageDir, path.relative(image.workdir, path.resolve(image.workdir, arg))));
	return [process.execPath, args.map(inImage)];
}

/**
 * Starts every application service of `compose` (`deploy.replicas` processes each) with the
 * environment compose would give its containers, remapped as the module comment says.
 * `hosts` maps compose host names to `host:port` of local servers; a URL in the environment that
 * names another compose service fails the run (the test would not know what it talks to).
 */
export async function runComposeApps(compose: ComposeFile, imageDir: string, hosts: Record<string, string>, namespace: string): Promise<ComposeRun> {
	const image = imageSpec();
	const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-app-"));
	const procs: ComposeProcess[] = [];
	let gatewayUrl = "";
	try {
		for (const [name, svc] of appServices(compose)) {
			for (let replica = 1; replica <= (svc.deploy?.replicas ?? 1); replica++) {
				const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workdir, ...image.env };
				for (const [key, value] of Object.entries(svc.environment ?? {})) if (value != null) env[key] = remapHosts(value, hosts, compose, `${name}.${key}`);
				env.DATA_DIR = path.join(workdir, `${name}-${replica}`);
				env.METRICS_PORT = String(await freePort());
				env.NAMESPACE = namespace;
				if ((env.SERVICES ?? "").split(",").includes("rest")) {
					env.PORT = String(await freePort());
					gatewayUrl = `http://127.0.0.1:${env.PORT}`;
				}
				const argv = typeof svc.command === "string" ? svc.command.split(" ") : (svc.command ?? image.cmd);
				const [cmd, args] = localCommand(argv, image, imageDir);
				const proc: ComposeProcess = Object.assign(spawnApp(cmd, args, imageDir, env), {
					service: name,
					replica,
					env,
					healthcheck() {
						const test = svc.healthcheck?.test ?? ["CMD", ...image.healthcheck];
						if (!Array.isArray(test) || test[0] !== "CMD") throw new Error(`${name}: health check is not in exec form: ${JSON.stringify(test)}`);
						const [hcCmd, hcArgs] = localCommand(test.slice(1), image, imageDir);
						return new Promise<number | null>(resolve => spawn(hcCmd, hcArgs, { cwd: imageDir, env, stdio: "ignore" }).on("exit", code => resolve(code)));
					}
				});
				procs.push(proc);
			}
		}
		if (!gatewayUrl) throw new Error("no application service runs rest (SERVICES)");
	} catch (err) {
		// never leave processes or dirs behind
		await Promise.all(procs.map(p => stopApp(p)));
		fs.rmSync(workdir, { recursive: true, force: true });
		throw err;
	}
	return {
		procs,
		gatewayUrl,
		logs: () => procs.map(p => `--- ${p.service} #${p.replica} ---\n${p.output.slice(-1_500)}`).join("\n"),
		async stop() {
			await Promise.all(procs.map(p => stopApp(p)));
			fs.rmSync(workdir, { recursive: true, force: true });
		}
	};
}

/** `scheme://user:pass@nats:4222/x` → the same URL at `hosts.nats`; other values unchanged. */
function remapHosts(value: string, hosts: Record<string, string>, compose: ComposeFile, where: string): string {
	if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
	return value
		.split(",")
		.map(part => {
			const url = new URL(part);
			if (hosts[url.hostname]) url.host = hosts[url.hostname];
			else if (compose.services[url.hostname]) throw new Error(`${where} names compose service "${url.hostname}", which the test has no local server for`);
			return url.toString();
		})
		.join(",");
}
