/**
 * The deployment files are right the first time, on a machine without a container engine:
 *  - the docker-compose files (NATS, the default, and AMQP) pass `docker-compose config`, name the
 *    services the monitoring expects, set only variables the code reads and take every credential
 *    from the env file;
 *  - the Kubernetes overlays build with kustomize, every object validates against the Kubernetes
 *    schemas, and the references between objects hold (probes, env, Secrets, selectors, ports);
 *  - each compose file's application services run as local processes of the production build,
 *    with compose's environment, and serve the REST contract (test/support/compose.ts).
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1";
import RestService from "../../services/rest.service";
import brokerOptions from "../../moleculer.config";
import { appServices, assembleImage, composeConfig, imageSpec, ROOT, runComposeApps } from "../support/compose";
import type { ComposeFile, ComposeRun } from "../support/compose";
import { freshDatabase, START_FLAGS } from "../../harness/deployment";
import { startNats } from "../../harness/servers";
import type { NatsServer } from "../../harness/servers";
import { eventually, httpClient } from "../../harness/system";

/** Every variable lib/config.ts reads (`env.X`), the only ones a deployment may set. */
const CONFIG_VARS = new Set([...fs.readFileSync(path.join(ROOT, "lib/config.ts"), "utf8").matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map(m => m[1]));
/** The gateway's routes, as "GET /health/live". */
const GATEWAY_ALIASES = new Set((RestService.settings!.routes ?? []).flatMap(route => Object.keys(route.aliases ?? {})));
const METRICS_PATH = (brokerOptions(null).metrics as { reporter: { options: { path: string } }[] }).reporter[0].options.path;

/** What each application container runs (SERVICES) and how many of it. */
const APP_SERVICES: Record<string, { services: string; replicas: number }> = {
	gateway: { services: "rest", replicas: 1 },
	"system-manager": { services: "systemManager", replicas: 1 },
	pilot: { services: "pilot", replicas: 1 },
	db: { services: "db", replicas: 2 },
	"trash-report": { services: "trashReport", replicas: 3 },
	simulator: { services: "simulator", replicas: 1 }
};
const COMMON_SERVICES = [...Object.keys(APP_SERVICES), "postgres", "prometheus", "grafana"];

const VARIANTS = [
	{ transporter: "nats", file: "docker-compose.yml", bus: "nats", busPort: "4222", infra: ["nats", "nats-exporter"] },
	{ transporter: "amqp", file: "docker-compose.amqp.yml", bus: "rabbitmq", busPort: "5672", infra: ["rabbitmq"] }
] as const;

const EXAMPLE_ENV = path.join(ROOT, "deploy.env.example");
const PLACEHOLDER = "CHANGE_ME";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "deploy-spec-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeEnvFile(name: string, vars: Record<string, string>): string {
	const file = path.join(tmp, name);
	fs.writeFileSync(
		file,
		Object.entries(vars)
			.map(([k, v]) => `${k}=${v}\n`)
			.join("")
	);
	return file;
}

it("reads the variable list from lib/config.ts", () => {
	expect([...CONFIG_VARS]).toEqual(expect.arrayContaining(["TRANSPORTER", "SERVICES", "PORT", "METRICS_PORT", "DB_URI", "API_TOKEN"]));
	expect(GATEWAY_ALIASES).toContain("GET /health/ready");
});

describe("the Dockerfile", () => {
	const image = imageSpec();

	it("runs the compiled JavaScript as a non-root user, with production dependencies only", () => {
		expect(image.text).toMatch(/^FROM node:24-slim AS build$/m);
		expect(image.text).toMatch(/npm ci --omit=dev/);
		expect(image.cmd).toEqual(["node", "dist/bin/start.js"]);
		// the flags `npm start` runs with (young and old generation sizes), from package.json
		expect(image.env.NODE_OPTIONS.split(" ")).toEqual(START_FLAGS);
		expect(image.healthcheck).toEqual(["node", "dist/bin/healthcheck.js"]);
		// numeric, so that Kubernetes' runAsNonRoot can check it
		expect(image.user).toMatch(/^[1-9]\d*(:\d+)?$/);
	});

	it("keeps secrets and local state out of the build context", () => {
		const ignored = fs.readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n");
		expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist", "data", ".env", "*.env", ".git"]));
	});
});

describe.each(VARIANTS)("docker-compose on $transporter ($file)", ({ file, bus, busPort, infra }) => {
	let compose: ComposeFile;
	beforeAll(async () => {
		compose = await composeConfig([file], EXAMPLE_ENV);
	});

	it("passes `docker-compose config` with deploy.env.example, and refuses to run without credentials", async () => {
		expect(Object.keys(compose.services).sort()).toEqual([...COMMON_SERVICES, ...infra].sort());
		await expect(composeConfig([file], writeEnvFile("empty.env", {}))).rejects.toThrow(/set \w+ in deploy.env/);
	});

	it("runs each service in its own container, with db and trash-report replicated", () => {
		const apps = Object.fromEntries(
			appServices(compose).map(([name, svc]) => [name, { services: svc.environment?.SERVICES, replicas: svc.deploy?.replicas ?? 1 }])
		);
		expect(apps).toEqual(APP_SERVICES);
	});

	it("sets only variables the code reads, on the bus, with metrics on 3030 and a store shared by replicas", () => {
		for (const [name, svc] of appServices(compose)) {
			const env = svc.environment ?? {};
			expect({ name, unknown: Object.keys(env).filter(key => !CONFIG_VARS.has(key)) }).toEqual({ name, unknown: [] });
			// Moleculer makes a unique node id per container
			expect(env.NODE_ID).toBeUndefined();
			expect(new URL(env.TRANSPORTER!).host).toBe(`${bus}:${busPort}`);
			expect(env.METRICS_PORT).toBe("3030");
			if ((svc.deploy?.replicas ?? 1) > 1) expect(new URL(env.DB_URI!).host).toBe("postgres:5432");
		}
		expect(compose.services.gateway.environment?.PORT).toBe("3000");
	});

	it("takes every credential from the env file", () => {
		const credentials = [
			...appServices(compose).flatMap(([, svc]) => ["TRANSPORTER", "DB_URI", "API_TOKEN"].flatMap(key => svc.environment?.[key] ?? [])),
			compose.services.postgres.environment?.POSTGRES_PASSWORD,
			compose.services.grafana.environment?.GF_SECURITY_ADMIN_PASSWORD,
			...(bus === "rabbitmq" ? [compose.services.rabbitmq.environment?.RABBITMQ_DEFAULT_PASS] : [])
		];
		// TRANSPORTER of the six, DB_URI of db and trash-report, the gateway's API_TOKEN, the servers' passwords
		expect(credentials).toHaveLength(6 + 2 + 1 + 2 + (bus === "rabbitmq" ? 1 : 0));
		for (const value of credentials) expect(value).toContain(PLACEHOLDER);
		if (bus === "nats") expect(compose.services.nats.command).toEqual(expect.arrayContaining(["--pass", PLACEHOLDER, "-js", "-m", "8222"]));
	});

	it("health-checks every service that others wait for, and the app with the image's own check", () => {
		for (const [name, svc] of Object.entries(compose.services)) {
			for (const [target, { condition }] of Object.entries(svc.depends_on ?? {})) {
				expect({ name, target, exists: target in compose.services }).toEqual({ name, target, exists: true });
				if (condition === "service_healthy") expect({ target, healthcheck: !!compose.services[target].healthcheck }).toEqual({ target, healthcheck: true });
			}
		}
		for (const [name, svc] of appServices(compose)) {
			expect({ name, test: svc.healthcheck?.test }).toEqual({ name, test: ["CMD", ...imageSpec().healthcheck] });
			expect({ name, bus: svc.depends_on?.[bus]?.condition }).toEqual({ name, bus: "service_healthy" });
			if (svc.environment?.DB_URI) expect(svc.depends_on?.postgres?.condition).toBe("service_healthy");
		}
	});

	it("provisions Prometheus and Grafana from monitoring/", () => {
		// bind mounts, in either of the forms `docker-compose config` prints ("src:target:mode" or an object)
		const mounts = (service: string) =>
			Object.fromEntries(
				(compose.services[service].volumes ?? []).flatMap(v => {
					const { source, target } = typeof v === "string" ? { source: v.split(":")[0], target: v.split(":")[1] } : v;
					return path.isAbsolute(source) ? [[target, path.relative(ROOT, source)]] : [];
				})
			);
		expect(mounts("prometheus")).toEqual({
			"/etc/prometheus/prometheus.yml": "monitoring/prometheus.yml",
			"/etc/prometheus/alerts.yml": "monitoring/alerts.yml"
		});
		expect(mounts("grafana")).toEqual({
			"/etc/grafana/provisioning": "monitoring/grafana/provisioning",
			"/var/lib/grafana/dashboards": "monitoring/grafana/dashboards"
		});
		for (const source of [...Object.values(mounts("prometheus")), ...Object.values(mounts("grafana"))])
			expect({ source, exists: fs.existsSync(path.join(ROOT, source)) }).toEqual({ source, exists: true });
	});

	it("has every process Prometheus scrapes, by the names and port it scrapes them", () => {
		const prometheus = parse(fs.readFileSync(path.join(ROOT, "monitoring/prometheus.yml"), "utf8")) as {
			scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
		};
		const job = (name: string) => prometheus.scrape_configs.find(j => j.job_name === name)!.dns_sd_configs![0];
		expect(job("trash-bus").names.sort()).toEqual(
			appServices(compose)
				.map(([name]) => name)
				.sort()
		);
		expect(String(job("trash-bus").port)).toBe(compose.services.gateway.environment?.METRICS_PORT);
		// the exporter of this variant's bus is one of the scraped names
		expect([job("nats").names, job("rabbitmq").names].flat()).toContain(bus === "nats" ? "nats-exporter" : "rabbitmq");
	});
});

it("the AMQP file runs the same application services as the NATS one, but on RabbitMQ", async () => {
	const [nats, amqp] = await Promise.all(VARIANTS.map(v => composeConfig([v.file], EXAMPLE_ENV)));
	// (each file's TRANSPORTER and bus dependency are checked above)
	const withoutBus = (compose: ComposeFile) =>
		appServices(compose).map(([name, svc]) => {
			const { TRANSPORTER, ...environment } = svc.environment ?? {};
			return [name, { ...svc, environment, depends_on: Object.keys(svc.depends_on ?? {}).filter(d => d !== "nats" && d !== "rabbitmq") }];
		});
	expect(withoutBus(amqp)).toEqual(withoutBus(nats));
});

// ---------------------------------------------------------------------------------------------
// Kubernetes

interface K8sObject {
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
	spec?: any;
	data?: Record<string, string>;
	stringData?: Record<string, string>;
}

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
	"v1/Namespace": Namespace,
	"v1/ConfigMap": ConfigMap,
	"v1/Secret": Secret,
	"v1/Service": Service,
	"apps/v1/Deployment": Deployment,
	"apps/v1/StatefulSet": StatefulSet,
	"policy/v1/PodDisruptionBudget": PodDisruptionBudget,
	"autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
	"networking.k8s.io/v1/Ingress": Ingress
};

function kustomize(dir: string): Promise<K8sObject[]> {
	return new Promise((resolve, reject) => {
		execFile("kubectl", ["kustomize", path.join(ROOT, dir)], { timeout: 30_000 }, (err, stdout, stderr) => {
			if (err) return reject(new Error(`kubectl kustomize ${dir} failed: ${stderr || err.message}`));
			resolve(parseAllDocuments(stdout).map(doc => doc.toJS() as K8sObject));
		});
	});
}

/** A container of this repository's image (whatever registry the overlay names). */
const isApp = (c: { image: string }) => /(^|\/)trash-bus(:|@|$)/.test(c.image);

describe.each(VARIANTS)("Kubernetes overlay $transporter", ({ transporter, bus, busPort }) => {
	let objects: K8sObject[];
	const byKind = (kind: string) => objects.filter(o => o.kind === kind);
	const get = (kind: string, name: string) => {
		const found = objects.find(o => o.kind === kind && o.metadata.name === name);
		if (!found) throw new Error(`no ${kind} ${name}`);
		return found;
	};
	const workloads = () => [...byKind("Deployment"), ...byKind("StatefulSet")];
	/** Env of a container as the kubelet would build it: envFrom ConfigMaps first, then env. */
	const containerEnv = (c: any): Record<string, { value?: string; secret?: { name: string; key: string } }> => {
		const env: Record<string, { value?: string; secret?: { name: string; key: string } }> = {};
		for (const from of c.envFrom ?? []) for (const [k, v] of Object.entries(get("ConfigMap", from.configMapRef.name).data ?? {})) env[k] = { value: v };
		for (const e of c.env ?? []) env[e.name] = e.valueFrom?.secretKeyRef ? { secret: e.valueFrom.secretKeyRef } : { value: e.value };
		return env;
	};

	beforeAll(async () => {
		objects = await kustomize(`k8s/overlays/${transporter}`);
	});

	it("builds with kustomize, and every object validates against the Kubernetes schemas", () => {
		expect(objects.length).toBeGreaterThan(15);
		for (const obj of objects) {
			const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
			expect({ object: `${obj.apiVersion}/${obj.kind}`, known: !!Model }).toEqual({ object: `${obj.apiVersion}/${obj.kind}`, known: true });
			expect(() => new Model(obj).validate()).not.toThrow();
			if (obj.kind !== "Namespace") expect(obj.metadata.namespace).toBe("trash-bus");
		}
	});

	it("runs each service as a Deployment with replicas, resources and metrics scraping", () => {
		const apps = Object.fromEntries(
			byKind("Deployment").map(d => {
				const [container] = d.spec.template.spec.containers;
				return [d.metadata.name, { services: containerEnv(container).SERVICES?.value, replicas: d.spec.replicas }];
			})
		);
		expect(apps).toEqual({ ...APP_SERVICES, gateway: { services: "rest", replicas: 2 } });
		for (const w of workloads()) {
			for (const c of w.spec.template.spec.containers)
				expect({ container: `${w.metadata.name}/${c.name}`, resources: Object.keys(c.resources ?? {}).sort() }).toEqual({
					container: `${w.metadata.name}/${c.name}`,
					resources: ["limits", "requests"]
				});
		}
		for (const d of byKind("Deployment")) {
			const annotations = d.spec.template.metadata.annotations;
			const [container] = d.spec.template.spec.containers;
			expect(annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/path": METRICS_PATH });
			expect(container.ports.find((p: any) => p.containerPort === Number(annotations["prometheus.io/port"]))).toBeDefined();
		}
	});

	it("runs the bus as a StatefulSet with a volume, the apps connecting to it", () => {
		const busSet = get("StatefulSet", bus);
		expect(busSet.spec.volumeClaimTemplates).toHaveLength(1);
		expect(busSet.spec.template.spec.containers[0].volumeMounts.map((m: any) => m.name)).toContain(busSet.spec.volumeClaimTemplates[0].metadata.name);
		if (bus === "nats") expect(busSet.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(["-js", "-sd"]));
		expect(get("Service", bus).spec.ports.map((p: any) => String(p.port))).toContain(busPort);
		const transporterSecret = get("Secret", "trash-bus-bus").stringData!.transporter;
		expect(new URL(transporterSecret).host).toBe(`${bus}:${busPort}`);
	});

	it("probes paths the processes really serve: the gateway's health aliases, the others' metrics", () => {
		let probes = 0;
		for (const d of byKind("Deployment")) {
			for (const c of d.spec.template.spec.containers.filter(isApp)) {
				const env = containerEnv(c);
				const serves = (env.SERVICES?.value ?? "").split(",");
				const port = Number(env.PORT?.value ?? 3000);
				const metricsPort = Number(env.METRICS_PORT?.value ?? 3030);
				const metricsOn = !["0", "false", "off", "no"].includes((env.METRICS?.value ?? "true").toLowerCase());
				for (const kind of ["readinessProbe", "livenessProbe"]) {
					const probe = c[kind]?.httpGet;
					expect({ container: d.metadata.name, kind, httpGet: !!probe }).toEqual({ container: d.metadata.name, kind, httpGet: true });
					const target = c.ports.find((p: any) => p.name === probe.port || p.containerPort === probe.port)?.containerPort;
					const served =
						(serves.includes("rest") && target === port && GATEWAY_ALIASES.has(`GET ${probe.path}`)) ||
						(metricsOn && target === metricsPort && probe.path === METRICS_PATH);
					expect({ container: d.metadata.name, kind, path: probe.path, target, served }).toEqual({
						container: d.metadata.name,
						kind,
						path: probe.path,
						target,
						served: true
					});
					probes++;
				}
			}
		}
		expect(probes).toBe(2 * Object.keys(APP_SERVICES).length);
		const gateway = get("Deployment", "gateway").spec.template.spec.containers[0];
		expect([gateway.readinessProbe.httpGet.path, gateway.livenessProbe.httpGet.path]).toEqual(["/health/ready", "/health/live"]);
	});

	it("gives every container of every workload a liveness and a readiness probe", () => {
		// any pod template, not just the kinds above: a DaemonSet or Job added later is held to it too
		const pods = objects.flatMap(o => {
			const template = o.kind === "CronJob" ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
			return template?.spec?.containers ? [{ workload: `${o.kind}/${o.metadata.name}`, containers: template.spec.containers as any[] }] : [];
		});
		expect(pods.map(p => p.workload)).toEqual(expect.arrayContaining(workloads().map(w => `${w.kind}/${w.metadata.name}`)));
		// sidecars included: a hung exporter is as invisible to Kubernetes as a hung app
		const missing = pods.flatMap(({ workload, containers }) =>
			containers.flatMap(c => ["livenessProbe", "readinessProbe"].filter(kind => !c[kind]).map(kind => `${workload}/${c.name}: no ${kind}`))
		);
		expect(missing).toEqual([]);
	});

	it("sets only variables the code reads", () => {
		for (const w of workloads()) {
			for (const c of w.spec.template.spec.containers.filter(isApp)) {
				const unknown = Object.keys(containerEnv(c)).filter(key => !CONFIG_VARS.has(key));
				expect({ container: w.metadata.name, unknown }).toEqual({ container: w.metadata.name, unknown: [] });
				expect(containerEnv(c).NODE_ID).toBeUndefined();
			}
		}
	});

	it("takes credentials from Secret templates with placeholders, by keys they have", () => {
		const refs = workloads().flatMap(w =>
			w.spec.template.spec.containers.flatMap((c: any) => (c.env ?? []).flatMap((e: any) => e.valueFrom?.secretKeyRef ?? []))
		);
		expect(refs.length).toBeGreaterThan(10);
		for (const ref of refs)
			expect({ ref, keys: Object.keys(get("Secret", ref.name).stringData ?? {}) }).toEqual({ ref, keys: expect.arrayContaining([ref.key]) });
		for (const secret of byKind("Secret")) {
			expect(secret.data).toBeUndefined();
			expect(Object.values(secret.stringData!).some(v => v.includes(PLACEHOLDER))).toBe(true);
		}
		// the credentials are Secrets, not ConfigMap entries
		const app = (name: string) => containerEnv(get("Deployment", name).spec.template.spec.containers[0]);
		expect(app("gateway").API_TOKEN.secret).toEqual({ name: "trash-bus", key: "api-token" });
		for (const name of ["db", "trash-report"]) expect(app(name).DB_URI.secret).toEqual({ name: "trash-bus", key: "db-uri" });
		for (const name of Object.keys(APP_SERVICES)) expect(app(name).TRANSPORTER.secret).toEqual({ name: "trash-bus-bus", key: "transporter" });
	});

	it("selects pods by their labels, targets ports the containers have, and points PDBs, the HPA and the Ingress at what exists", () => {
		const podsOf = (selector: Record<string, string>) =>
			workloads().filter(w => Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels?.[k] === v));
		for (const w of workloads())
			expect({ workload: w.metadata.name, labels: w.spec.template.metadata.labels }).toEqual({
				workload: w.metadata.name,
				labels: expect.objectContaining(w.spec.selector.matchLabels)
			});
		for (const svc of byKind("Service")) {
			const [target, ...others] = podsOf(svc.spec.selector);
			expect({ service: svc.metadata.name, pods: [target?.metadata.name, ...others] }).toEqual({ service: svc.metadata.name, pods: [expect.any(String)] });
			const ports = target.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []);
			for (const p of svc.spec.ports) expect(ports.some((cp: any) => cp.name === p.targetPort || cp.containerPort === p.targetPort)).toBe(true);
		}
		for (const set of byKind("StatefulSet")) expect(get("Service", set.spec.serviceName).spec.clusterIP).toBe("None");
		for (const pdb of byKind("PodDisruptionBudget")) {
			const [target, ...others] = podsOf(pdb.spec.selector.matchLabels);
			expect({ pdb: pdb.metadata.name, others }).toEqual({ pdb: pdb.metadata.name, others: [] });
			expect(pdb.spec.minAvailable).toBeLessThan(target.spec.replicas);
		}
		expect(
			byKind("PodDisruptionBudget")
				.map(p => p.metadata.name)
				.sort()
		).toEqual(["db", "gateway", "trash-report"]);
		const [hpa] = byKind("HorizontalPodAutoscaler");
		expect(get(hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name).metadata.name).toBe("gateway");
		const [ingress] = byKind("Ingress");
		const backend = ingress.spec.rules[0].http.paths[0].backend.service;
		expect(get("Service", backend.name).spec.ports.map((p: any) => p.name)).toContain(backend.port.name);
	});
});

// ---------------------------------------------------------------------------------------------
// The compose files, run as local processes

describe("the compose files run as local processes of the production build", () => {
	let imageDir: string;
	beforeAll(async () => {
		// what the image's build stage runs, then the final stage's layout: dist/ + production dependencies
		try {
			execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "pipe", encoding: "utf8" });
		} catch (err) {
			throw new Error(`npm run build failed:\n${(err as { stdout?: string }).stdout ?? ""}${(err as Error).message}`);
		}
		const started = Date.now();
		imageDir = await assembleImage();
		console.log(`image layout (dist/ + npm ci --omit=dev) assembled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
	}, 180_000);
	afterAll(() => imageDir && fs.rmSync(imageDir, { recursive: true, force: true }));

	it("copies public/ (the dashboard) to dist/public, where the compiled gateway serves it from", () => {
		const files = (dir: string) => (fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).sort() : null);
		expect(files(path.join(imageDir, "dist/public"))).toEqual(files(path.join(ROOT, "public")));
	});

	it("has no dev dependency in the image, not even the `node` runtime package", () => {
		expect(fs.existsSync(path.join(imageDir, "node_modules/moleculer"))).toBe(true);
		for (const dev of ["node", "typescript", "tsx", "jest", "moleculer-repl"])
			expect({ dev, installed: fs.existsSync(path.join(imageDir, "node_modules", dev)) }).toEqual({ dev, installed: false });
	});

	describe.each(VARIANTS)("$file", ({ transporter, file, bus }) => {
		const TOKEN = "deploy-spec-token";
		let nats: NatsServer | undefined;
		let run: ComposeRun;
		const gateway = () => httpClient(run.gatewayUrl);
		const write = (method: string, url: string, body?: unknown) => gateway().request(method, url, body, { authorization: `Bearer ${TOKEN}` });

		beforeAll(async () => {
			if (!imageDir) throw new Error("no image layout to run (the build failed: see the first error)");
			const pg = new URL(await freshDatabase(`compose_${transporter}`));
			const vars: Record<string, string> = {
				API_TOKEN: TOKEN,
				POSTGRES_USER: pg.username,
				POSTGRES_PASSWORD: "unused",
				POSTGRES_DB: pg.pathname.slice(1),
				GRAFANA_ADMIN_PASSWORD: "unused"
			};
			const hosts: Record<string, string> = { postgres: pg.host };
			if (bus === "nats") {
				// the compose file's NATS requires credentials: so does this one
				Object.assign(vars, { NATS_USER: "trash", NATS_PASSWORD: "deploy-spec" });
				nats = await startNats({ jetstream: true, auth: { user: vars.NATS_USER, pass: vars.NATS_PASSWORD } });
				hosts.nats = `127.0.0.1:${nats.port}`;
			} else {
				const amqp = new URL(process.env.TEST_AMQP_URL!);
				Object.assign(vars, { RABBITMQ_USER: amqp.username, RABBITMQ_PASSWORD: amqp.password });
				hosts.rabbitmq = amqp.host;
			}
			const compose = await composeConfig([file], writeEnvFile(`${transporter}.env`, vars));
			run = await runComposeApps(compose, imageDir, hosts, `compose-${transporter}-${process.pid}`);
			const started = Date.now();
			try {
				await eventually(
					async () => {
						const dead = run.procs.find(p => p.child.exitCode != null);
						if (dead) throw Object.assign(new Error(`${dead.service} exited with ${dead.child.exitCode}`), { fatal: true });
						if ((await gateway().get("/health/ready")).status !== 200) return false;
						const workers = (await gateway().get("/workers")).body as { type: string; instances: number }[];
						return workers.find(w => w.type === "db")?.instances === 2 && workers.find(w => w.type === "trashReport")?.instances === 3;
					},
					60_000,
					250
				);
			} catch (err) {
				throw new Error(`${file} did not become ready: ${(err as Error).message}\n${run.logs()}`);
			}
			console.log(`${file}: ${run.procs.length} processes of the production build ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
		}, 90_000);

		afterAll(async () => {
			await run?.stop();
			await nats?.stop();
		});

		it("is ready, with every service type registered and the replicas compose asked for", async () => {
			expect((await gateway().get("/health/ready")).status).toBe(200);
			expect((await gateway().get("/health/live")).status).toBe(200);
			const workers = (await gateway().get("/workers")).body as { type: string; instances: number }[];
			expect(Object.fromEntries(workers.map(w => [w.type, w.instances]))).toEqual({ db: 2, pilot: 1, rest: 1, simulator: 1, systemManager: 1, trashReport: 3 });
			expect(run.procs).toHaveLength(9);
		});

		it("serves the movies CRUD, with writes behind the API token from the env file", async () => {
			expect((await gateway().request("POST", "/movies", { title: "Alien" })).status).toBe(401);
			const created = await write("POST", "/movies", { title: "Alien", year: 1979, genres: ["horror"] });
			expect(created.status).toBe(201);
			expect((await gateway().get(`/movies/${created.body.id}`)).body).toMatchObject({ title: "Alien", year: 1979 });
			expect((await write("PUT", `/movies/${created.body.id}`, { director: "Ridley Scott" })).body).toMatchObject({ title: "Alien", director: "Ridley Scott" });
			expect((await gateway().get("/movies?search=alien")).body).toMatchObject({ total: 1 });
			expect((await write("DELETE", `/movies/${created.body.id}`)).status).toBe(200);
			expect((await gateway().get(`/movies/${created.body.id}`)).status).toBe(404);
		});

		it("applies a reported level through the bus and the trashReport replicas", async () => {
			const report = await write("POST", "/levels", { can_id: "compose-1", level: "42.5" });
			expect(report.status).toBe(202);
			await eventually(async () => (await gateway().get(`/reports/${report.body.id}`)).body.status === "applied", 10_000, 100);
			expect((await gateway().get("/levels/compose-1")).body).toMatchObject({ canId: "compose-1", level: 42.5 });
		});

		it("passes the image's health check in every container, each serving its metrics", async () => {
			const codes = await Promise.all(run.procs.map(async p => [`${p.service}#${p.replica}`, await p.healthcheck()]));
			expect(codes).toEqual(run.procs.map(p => [`${p.service}#${p.replica}`, 0]));
			for (const p of run.procs) {
				const res = await fetch(`http://127.0.0.1:${p.env.METRICS_PORT}${METRICS_PATH}`);
				expect({ process: `${p.service}#${p.replica}`, status: res.status }).toEqual({ process: `${p.service}#${p.replica}`, status: 200 });
				await res.text();
			}
		});

		it("fails the health check of a process that is gone", async () => {
			const simulator = run.procs.find(p => p.service === "simulator")!;
			simulator.child.kill("SIGTERM");
			await simulator.exited;
			expect(await simulator.healthcheck()).toBe(1);
		});
	});
});
