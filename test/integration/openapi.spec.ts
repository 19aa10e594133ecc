/**
 * The OpenAPI document (issue #20) against the running system: it is a valid OpenAPI 3.1 document;
 * every route it lists is exercised on the embedded deployment, and every answer — the success and
 * each documented error — has a documented status and validates against its documented schema
 * (ajv, JSON Schema 2020-12); every alias the gateway serves is documented, and nothing undocumented
 * answers but 404; docs/openapi.json and the generated client's types are what the code generates;
 * a client generated from the document (openapi-typescript + openapi-fetch) drives a movie and a
 * report; and the reference page, /docs, lists every route in Chromium.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Ajv2020 from "ajv/dist/2020";
import type { ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import createClient from "openapi-fetch";
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { DOCUMENT_FILE, generateDocument, TYPES_FILE } from "../../bin/openapi";
import { startProcess, stopApp } from "../../harness/deployment";
import type { AppProcess } from "../../harness/deployment";
import { freePort } from "../../harness/servers";
import { eventually, startSystem } from "../../harness/system";
import type { System } from "../../harness/system";
import { ALL_SERVICES } from "../../lib/config";
import type { paths } from "../support/openapi-types";

const ROOT = path.resolve(__dirname, "../..");
const TOKEN = "openapi-t0ken";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const BIG = JSON.stringify({ title: "A", director: "x".repeat(110 * 1024) });

interface Operation {
	method: string;
	template: string;
	re: RegExp;
	responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

interface Reply {
	status: number;
	headers: Headers;
	text: string;
}

let doc: any;
let operations: Operation[];
/** `METHOD template status` of every answer seen that the document lists. */
const seen = new Set<string>();
const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
const validators = new Map<object, ValidateFunction>();

function loadDocument(document: any) {
	doc = document;
	// the document's `#/components/schemas/X` as a schema of its own that ajv can resolve
	const rewritten = JSON.parse(JSON.stringify(document).replaceAll('"#/components/schemas/', '"components#/$defs/'));
	ajv.addSchema({ $id: "components", $defs: rewritten.components.schemas });
	operations = Object.entries(rewritten.paths as Record<string, Record<string, any>>).flatMap(([template, item]) =>
		Object.entries(item).map(([method, op]) => ({
			method: method.toUpperCase(),
			template,
			re: new RegExp(`^${template.replace(/\{\w+\}/g, "[^/]+")}$`),
			responses: op.responses
		}))
	);
}

const operationOf = (method: string, url: string) => operations.find(op => op.method === method && op.re.test(url.split("?")[0]));

/** Sends a request as a client would: a JSON body (object) or a raw one (string) with its content type. */
async function send(
	base: string,
	method: string,
	url: string,
	{ json, raw, type = "application/json", headers = {} }: { json?: unknown; raw?: string; type?: string; headers?: Record<string, string> } = {}
): Promise<Reply> {
	const body = raw ?? (json === undefined ? undefined : JSON.stringify(json));
	const res = await fetch(base + url, {
		method,
		body,
		headers: { ...(body !== undefined ? { "content-type": type } : {}), ...headers },
		signal: AbortSignal.timeout(15_000)
	});
	return { status: res.status, headers: res.headers, text: method === "HEAD" ? "" : await res.text() };
}

/** The answer has a status the document lists for this operation, and matches its schema. */
function expectDocumented(method: string, url: string, reply: Reply) {
	const op = operationOf(method, url);
	if (!op) throw new Error(`${method} ${url} answered ${reply.status} and is not documented`);
	const answer = op.responses[String(reply.status)];
	if (!answer)
		throw new Error(`${method} ${url} answered ${reply.status}, not documented (${Object.keys(op.responses).join(", ")}): ${reply.text.slice(0, 300)}`);
	seen.add(`${op.method} ${op.template} ${reply.status}`);
	if (!answer.content || method === "HEAD") return;
	const contentType = reply.headers.get("content-type") ?? "";
	const [type, media] = Object.entries(answer.content).find(([key]) => contentType.startsWith(key)) ?? [];
	if (!type) throw new Error(`${method} ${url} answered ${reply.status} as ${contentType}, documented as ${Object.keys(answer.content).join(", ")}`);
	if (type !== "application/json") return;
	let validate = validators.get(media!.schema);
	if (!validate) validators.set(media!.schema, (validate = ajv.compile(media!.schema)));
	const body = JSON.parse(reply.text);
	if (!validate(body)) throw new Error(`${method} ${url} ${reply.status}: ${ajv.errorsText(validate.errors)} in ${reply.text.slice(0, 500)}`);
}

/** Sends, checks against the document, and expects `status`. */
async function call(base: string, status: number, method: string, url: string, options?: Parameters<typeof send>[3]): Promise<any> {
	const reply = await send(base, method, url, options);
	expectDocumented(method, url, reply);
	expect([method, url, reply.status]).toEqual([method, url, status]);
	return reply.text ? JSON.parse(reply.headers.get("content-type")?.startsWith("application/json") ? reply.text : "null") : undefined;
}

/** Reads a server-sent event stream until its first event, then leaves. */
async function firstEvent(base: string, headers: Record<string, string>) {
	const controller = new AbortController();
	const res = await fetch(base + "/events", { headers, signal: controller.signal });
	const reader = res.body!.getReader();
	let text = "";
	while (!text.includes("event: ")) text += new TextDecoder().decode((await reader.read()).value);
	controller.abort();
	return { res, text };
}

let sys: System;

beforeAll(async () => {
	sys = await startSystem(ALL_SERVICES, {}, { rest: { apiToken: TOKEN, apiTokenReads: true } });
	loadDocument((await sys.request("GET", "/openapi.json")).body);
});
afterAll(() => sys?.stop());

describe("the document", () => {
	it("is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator, whose ESM jest cannot load: its CLI)", async () => {
		const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "openapi-")), "openapi.json");
		fs.writeFileSync(file, JSON.stringify(doc));
		const cli = path.join(ROOT, "node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js");
		const { stdout } = await promisify(execFile)(process.execPath, [cli, file]).catch(err => err);
		expect(JSON.parse(stdout)).toEqual({ valid: true });
		expect(doc.openapi).toMatch(/^3\.1\./);
	});

	it("is served as application/json without a token, and equals docs/openapi.json, which is what the code generates", async () => {
		const res = await fetch(sys.url + "/openapi.json");
		expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
		const committed = fs.readFileSync(DOCUMENT_FILE, "utf8");
		expect(await generateDocument()).toBe(committed);
		expect(doc).toEqual(JSON.parse(committed));
	});

	it("npm run openapi -- --check: docs/openapi.json and the generated client's types are current (exit 0), a stale one is exit 1", async () => {
		// (in a process of its own: openapi-typescript is ESM that jest cannot load)
		const run = (...args: string[]) => promisify(execFile)(process.execPath, ["--import", "tsx", "bin/openapi.ts", "--check", ...args], { cwd: ROOT });
		const { stdout } = await run();
		expect(stdout).toContain("docs/openapi.json is up to date");
		expect(stdout).toContain("test/support/openapi-types.ts is up to date");
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openapi-check-"));
		const stale = JSON.parse(fs.readFileSync(DOCUMENT_FILE, "utf8"));
		delete stale.paths["/workers"];
		fs.writeFileSync(path.join(dir, "openapi.json"), JSON.stringify(stale, null, 2) + "\n");
		fs.copyFileSync(TYPES_FILE, path.join(dir, "types.ts"));
		await expect(run("--document", path.join(dir, "openapi.json"), "--types", path.join(dir, "types.ts"))).rejects.toMatchObject({
			code: 1,
			stderr: expect.stringContaining("is stale: run npm run openapi")
		});
	}, 30_000);

	it("documents the bearer token on writes (required) and reads (with API_TOKEN_READS), none on the probes", () => {
		expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: "http", scheme: "bearer" }));
		expect(doc.paths["/movies"].post.security).toEqual([{ bearerAuth: [] }]);
		expect(doc.paths["/movies/{id}"].delete.security).toEqual([{ bearerAuth: [] }]);
		expect(doc.paths["/movies"].get.security).toEqual([{}, { bearerAuth: [] }]);
		expect(doc.paths["/health/live"].get.security).toBeUndefined();
		expect(doc.paths["/levels"].post.requestBody.content["application/json"].example).toEqual({ can_id: "333", level: "30.65" });
	});

	it("documents every alias the gateway serves, and every file of its dashboard", () => {
		const gateway = sys.broker.getLocalService("rest") as unknown as { aliases: { method: string; fullPath: string }[] };
		const documented = operations.map(op => `${op.method} ${op.template}`);
		const served = gateway.aliases.map(alias => `${alias.method} ${alias.fullPath.replace(/:(\w+)/g, "{$1}")}`);
		expect(served.length).toBeGreaterThanOrEqual(20);
		expect(documented).toEqual(expect.arrayContaining(served));
		for (const file of fs.readdirSync(path.join(ROOT, "public"))) expect(documented).toContain(`GET /${file}`);
		// and nothing else: every documented operation is an alias or a static file
		expect(documented.filter(op => !served.includes(op) && !/^(GET|HEAD) \/([\w.-]+\.(html|js|css))?$/.test(op))).toEqual([]);
	});
});

describe("every route answers as documented (a gateway with API_TOKEN and API_TOKEN_READS)", () => {
	const as = (status: number, method: string, url: string, options: Parameters<typeof send>[3] = {}) =>
		call(sys.url, status, method, url, { ...options, headers: { ...AUTH, ...options.headers } });
	const anonymous = (status: number, method: string, url: string, options?: Parameters<typeof send>[3]) => call(sys.url, status, method, url, options);

	/** The errors every route with a JSON body has, and the 401 without a token. */
	async function bodyErrors(method: string, url: string) {
		await as(400, method, url, { raw: '{"title": "A"' });
		await as(413, method, url, { raw: BIG });
		await as(415, method, url, { raw: "title=A", type: "application/x-www-form-urlencoded" });
		await anonymous(401, method, url, { json: {} });
	}

	it("movies", async () => {
		const movie = await as(201, "POST", "/movies", { json: { title: "Alien", year: 1979, director: "Ridley Scott", genres: ["horror", "sci-fi"] } });
		await as(422, "POST", "/movies", { json: { year: "soon" } });
		await bodyErrors("POST", "/movies");

		await as(200, "GET", "/movies?page=1&pageSize=10&sort=-year&search=ali");
		await as(422, "GET", "/movies?page=0&sort=password");
		await anonymous(401, "GET", "/movies");

		await as(200, "GET", `/movies/${movie.id}`);
		await as(404, "GET", "/movies/nope");
		await as(422, "GET", `/movies/${"x".repeat(65)}`);
		await anonymous(401, "GET", `/movies/${movie.id}`);

		await as(200, "PUT", `/movies/${movie.id}`, { json: { director: "R. Scott", genres: null } });
		await as(404, "PUT", "/movies/nope", { json: { year: 1980 } });
		await as(422, "PUT", `/movies/${movie.id}`, { json: { title: "" } });
		await bodyErrors("PUT", `/movies/${movie.id}`);

		await as(404, "DELETE", "/movies/nope");
		await as(422, "DELETE", `/movies/${"x".repeat(65)}`);
		await bodyErrors("DELETE", `/movies/${movie.id}`);
		await as(200, "DELETE", `/movies/${movie.id}`);
	});

	it("levels and reports", async () => {
		const report = await as(202, "POST", "/levels", { json: { can_id: "333", level: "30.65" } });
		await as(422, "POST", "/levels", { json: { can_id: " ", level: "full" } });
		await bodyErrors("POST", "/levels");

		await eventually(async () => (await send(sys.url, "GET", `/reports/${report.id}`, { headers: AUTH })).text.includes('"applied"'));
		await as(200, "GET", `/reports/${report.id}`);
		await as(404, "GET", "/reports/nope");
		await as(422, "GET", `/reports/${"r".repeat(129)}`);
		await anonymous(401, "GET", `/reports/${report.id}`);

		await as(200, "GET", "/levels?min=0&max=100");
		await as(200, "GET", "/levels?fullBefore=2030-01-01T00:00:00Z");
		await as(422, "GET", "/levels?min=90&max=10");
		await anonymous(401, "GET", "/levels");

		await as(200, "GET", "/levels/333");
		await as(404, "GET", "/levels/nope");
		await as(422, "GET", `/levels/${"c".repeat(65)}`);
		await anonymous(401, "GET", "/levels/333");
	});

	it("cans, their history and collections", async () => {
		await as(201, "PUT", "/cans/501", {
			json: { name: "North door", location: { lat: 59.43, lon: 24.75 }, capacityLitres: 240, wasteKind: "mixed", fullThreshold: 85 }
		});
		await as(200, "PUT", "/cans/501", { json: { name: null } });
		await as(422, "PUT", "/cans/501", { json: { location: { lat: 91, lon: 0 }, colour: "red" } });
		await bodyErrors("PUT", "/cans/501");

		await as(200, "GET", "/cans");
		await anonymous(401, "GET", "/cans");
		await as(200, "GET", "/cans/501");
		await as(200, "GET", "/cans/501?format=ngsi-ld");
		await as(200, "GET", "/cans/501", { headers: { Accept: "application/ld+json" } });
		await as(404, "GET", "/cans/nope");
		await as(422, "GET", "/cans/501?format=xml");
		await anonymous(401, "GET", "/cans/501");

		await as(200, "GET", "/levels/501/history?from=2026-01-01T00:00:00Z&step=1h&limit=10");
		await as(404, "GET", "/levels/nope/history");
		await as(422, "GET", "/levels/501/history?step=soon");
		await anonymous(401, "GET", "/levels/501/history");

		await as(200, "GET", "/cans/501/collections");
		await as(404, "GET", "/cans/nope/collections");
		await as(422, "GET", "/cans/501/collections?limit=0");
		await anonymous(401, "GET", "/cans/501/collections");

		await as(404, "DELETE", "/cans/nope");
		await as(422, "DELETE", `/cans/${"c".repeat(65)}`);
		await bodyErrors("DELETE", "/cans/501");
		await as(200, "DELETE", "/cans/501");
	});

	it("workers, health, the document and its page, the dashboard's files", async () => {
		await as(200, "GET", "/workers");
		await anonymous(401, "GET", "/workers");
		await anonymous(200, "GET", "/health/live");
		await anonymous(200, "GET", "/health/ready");
		for (const url of [
			"/openapi.json",
			"/docs",
			"/docs/initializer.js",
			"/docs/swagger-ui.css",
			"/docs/swagger-ui-bundle.js",
			"/vendor/uPlot.iife.min.js",
			"/vendor/uPlot.min.css",
			"/vendor/leaflet.js",
			"/vendor/leaflet.css"
		])
			await anonymous(200, "GET", url);
		for (const url of ["/", "/index.html", "/app.js", "/style.css"]) {
			await anonymous(200, "GET", url);
			await anonymous(200, "HEAD", url);
		}
	});

	it("the event stream: 200 with the token, 401 without, 503 beyond its clients", async () => {
		const { res, text } = await firstEvent(sys.url, AUTH);
		expectDocumented("GET", "/events", { status: res.status, headers: res.headers, text });
		expect(text).toContain("event: snapshot");
		await anonymous(401, "GET", "/events");
		// the gateway streams to 100 clients at most
		const clients = (sys.broker.getLocalService("rest") as unknown as { live: { clients: Set<unknown> } }).live.clients;
		await eventually(() => clients.size === 0);
		const controllers = Array.from({ length: 100 }, () => new AbortController());
		try {
			const streams = await Promise.all(controllers.map(controller => fetch(sys.url + "/events", { headers: AUTH, signal: controller.signal })));
			expect(streams.map(stream => stream.status)).toEqual(streams.map(() => 200));
			await as(503, "GET", "/events");
		} finally {
			controllers.forEach(controller => controller.abort());
		}
	}, 30_000);
});

describe("a gateway whose services are all missing answers 503 as documented", () => {
	let lonely: System;
	beforeAll(async () => {
		lonely = await startSystem(["rest"]);
	});
	afterAll(() => lonely?.stop());

	it("on every route that documents a 503, but the event stream's (its clients are above)", async () => {
		const unavailable = operations.filter(op => op.responses["503"] && op.template !== "/events");
		expect(unavailable.length).toBeGreaterThanOrEqual(12);
		for (const op of unavailable) {
			const url = op.template.replace(/\{\w+\}/g, "x");
			await call(lonely.url, 503, op.method, url, ["POST", "PUT"].includes(op.method) ? { json: {} } : {});
		}
	});
});

describe("a gateway with RATE_LIMIT answers 429 as documented", () => {
	let server: AppProcess;
	let base: string;
	beforeAll(async () => {
		const port = await freePort();
		base = `http://127.0.0.1:${port}`;
		server = startProcess({ PORT: String(port), RATE_LIMIT: "1", DB_URI: "memory://", SIM_AUTOSTART: "false", METRICS: "false", NODE_ID: "rate-limited" });
		// the document's route is not rate limited
		await eventually(async () => (await fetch(base + "/openapi.json")).status === 200, 30_000, 200);
	}, 40_000);
	afterAll(() => server && stopApp(server));

	it("on every route that documents a 429, once a client used up its minute", async () => {
		const limited = operations.filter(op => op.responses["429"]);
		expect(limited.length).toBeGreaterThanOrEqual(12);
		await fetch(base + "/health/live");
		for (const op of limited) {
			const url = op.template.replace(/\{\w+\}/g, "x");
			await call(base, 429, op.method, url, ["POST", "PUT"].includes(op.method) ? { json: {} } : {});
		}
		expect((await send(base, "GET", "/workers")).headers.get("retry-after")).toBe("60");
	});
});

describe("nothing undocumented answers", () => {
	it("every documented path answers 404 to the methods it does not document", async () => {
		for (const template of Object.keys(doc.paths)) {
			const url = template.replace(/\{\w+\}/g, "x");
			for (const method of METHODS) {
				if (operationOf(method, url)) continue;
				const reply = await send(sys.url, method, url, { headers: { ...AUTH, "access-control-request-method": "GET" } });
				expect([method, url, reply.status]).toEqual([method, url, 404]);
			}
		}
	});

	it.each([
		"/nope",
		"/movies/x/y",
		"/db/list",
		"/~node/list",
		"/$node/services",
		"/api/movies",
		"/docs/index.html",
		"/docs/swagger-initializer.js",
		"/vendor/uPlot.js",
		"/events/x",
		"/openapi.yaml",
		"/reports",
		"/health",
		"/vendor",
		"/events/app.js",
		// (a trailing slash is the same path to moleculer-web: /docs/ is /docs)
		"/vendor/style.css"
	])("GET %s is 404", async url => {
		const reply = await send(sys.url, "GET", url, { headers: AUTH });
		expect(reply.status).toBe(404);
		expect(JSON.parse(reply.text)).toMatchObject({ name: "NotFoundError", code: 404 });
	});
});

it("every status the document lists was answered by some request above", () => {
	const documented = operations.flatMap(op => Object.keys(op.responses).map(status => `${op.method} ${op.template} ${status}`));
	expect(documented.filter(key => !seen.has(key))).toEqual([]);
});

describe("a client generated from the document (openapi-typescript types, openapi-fetch)", () => {
	it("drives a movie and a report through the API", async () => {
		const client = createClient<paths>({ baseUrl: sys.url, headers: AUTH });

		const created = await client.POST("/movies", { body: { title: "Heat", year: 1995, genres: ["crime"] } });
		expect(created.response.status).toBe(201);
		const id = created.data!.id;
		const changed = await client.PUT("/movies/{id}", { params: { path: { id } }, body: { director: "Michael Mann" } });
		expect(changed.data).toMatchObject({ id, title: "Heat", year: 1995, director: "Michael Mann" });
		const page = await client.GET("/movies", { params: { query: { search: "heat", pageSize: 5 } } });
		expect(page.data!.rows.map(movie => movie.title)).toEqual(["Heat"]);
		const invalid = await client.POST("/movies", { body: { title: "" } });
		expect(invalid.response.status).toBe(422);
		expect(invalid.error).toMatchObject({ code: 422, type: "VALIDATION_ERROR", data: [expect.objectContaining({ field: "title" })] });
		expect((await client.DELETE("/movies/{id}", { params: { path: { id } } })).data).toEqual({ id });
		expect((await client.GET("/movies/{id}", { params: { path: { id } } })).response.status).toBe(404);

		const accepted = await client.POST("/levels", { body: { can_id: "777", level: "42.5" } });
		expect(accepted.response.status).toBe(202);
		const reportId = accepted.data!.id;
		const applied = await eventually(async () => {
			const { data } = await client.GET("/reports/{id}", { params: { path: { id: reportId } } });
			return data?.status === "applied" && data;
		});
		expect(applied).toMatchObject({ id: reportId, canId: "777", level: 42.5 });
		const can = await client.GET("/levels/{canId}", { params: { path: { canId: "777" } } });
		expect(can.data).toMatchObject({ canId: "777", level: 42.5 });
		const full = await client.GET("/levels", { params: { query: { min: 40, max: 50 } } });
		expect(full.data!.map(level => level.canId)).toContain("777");
	});
});

describe("the reference page in Chromium", () => {
	let browser: Browser;
	beforeAll(async () => {
		browser = await launchChromium();
	});
	afterAll(() => browser?.close());

	it("loads the document from the gateway and lists every route, asking nothing of any other host", async () => {
		const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
		const problems: string[] = [];
		const hosts = new Set<string>();
		page.on("console", msg => msg.type() === "error" && problems.push(`console: ${msg.text()}`));
		page.on("pageerror", err => problems.push(`page error: ${err.message}`));
		page.on("requestfailed", req => problems.push(`failed: ${req.url()}`));
		page.on("request", req => hosts.add(new URL(req.url()).host));
		await page.goto(sys.url + "/docs");
		await page.waitForSelector(".opblock");
		const listed = await page.$$eval(".opblock", blocks =>
			blocks.map(
				block => `${block.querySelector(".opblock-summary-method")!.textContent} ${block.querySelector(".opblock-summary-path")!.getAttribute("data-path")}`
			)
		);
		expect(listed.sort()).toEqual(operations.map(op => `${op.method} ${op.template}`).sort());
		expect(await page.locator(".info .title").textContent()).toContain("trash-bus");
		// Swagger UI shows no error, and no warning about the document (it had one about jsonSchemaDialect)
		expect(await page.locator(".errors-wrapper, .version-pragma").count()).toBe(0);
		expect(await page.locator("text=Warning").count()).toBe(0);
		fs.mkdirSync(path.join(ROOT, "test-artifacts"), { recursive: true });
		await page.screenshot({ path: path.join(ROOT, "test-artifacts", "docs.png") });
		expect(problems).toEqual([]);
		expect([...hosts]).toEqual([new URL(sys.url).host]);
	});
});
