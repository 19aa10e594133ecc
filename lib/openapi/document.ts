/**
 * The OpenAPI 3.1 document of the gateway, generated from what serves the requests: moleculer-web's
 * resolved aliases (method, path, the route's body parser, token and rate limit) and, behind each,
 * the action's fastest-validator `params` (lib/openapi/json-schema.ts) and its `openapi`
 * description (summary, answer, own errors, example). Nothing here lists a route: a new alias is
 * documented the moment it exists, and one whose action says nothing about itself fails the build
 * of the document instead of being left out (test/integration/openapi.spec.ts).
 */
import fs from "node:fs";
import path from "node:path";
import type { ValidationSchema } from "fastest-validator";
import { WRITE_METHODS as WRITES } from "../contracts";
import { paramsSchema } from "./json-schema";
import type { JsonSchema } from "./json-schema";
import { ref, SCHEMAS } from "./schemas";
import type { SchemaName } from "./schemas";

/** What an action behind an alias says about itself (the `openapi` property of its definition). */
export interface ActionDoc {
	summary: string;
	description?: string;
	/** The success status: 200 unless said. */
	status?: number;
	/** The component the success answers. */
	response: SchemaName;
	/** It also answers 201, with the same shape, when it created what it was asked to write (an upsert's PUT). */
	created?: string;
	/** Other media types it answers on request (`Accept`, or a `format` param), each a JSON object described in words. */
	alternatives?: Record<string, string>;
	/** The action's own errors, by status: when it answers them (the gateway's are added per route). */
	errors?: Partial<Record<number, string>>;
	/** The shape of an own error when it is not the plain `Error`. */
	errorSchemas?: Partial<Record<number, SchemaName>>;
	/** A request: the body of a write, the query of a read. */
	example?: Record<string, unknown>;
	/** At least one of these fields must be given (each is optional in `params`). */
	requireOneOf?: readonly string[];
	/** Needs no token, even with API_TOKEN_READS (probes of load balancers and Kubernetes). */
	open?: boolean;
}

/** What a function alias (a handler of the gateway itself, no action) says about itself. */
export interface HandlerDoc {
	summary: string;
	description?: string;
	tag: string;
	/** The success's media type, and its schema when it is JSON. */
	contentType: string;
	schema?: SchemaName;
	/** Its own errors, by status (moleculer-web's error shape). */
	errors?: Partial<Record<number, string>>;
}

/** Route-level documentation (`openapi` on a moleculer-web route). */
export interface RouteDoc {
	/** Answers 429 once a client exceeds RATE_LIMIT (documented even where this process runs with RATE_LIMIT=0). */
	rateLimited?: boolean;
}

/** A function alias with its description attached. */
export type DocumentedHandler<F extends (...args: never[]) => unknown> = F & { openapi: HandlerDoc };

export function documented<F extends (...args: never[]) => unknown>(doc: HandlerDoc, handler: F): DocumentedHandler<F> {
	return Object.assign(handler, { openapi: doc });
}

/** One alias as moleculer-web resolved it (its `Alias` objects have these fields). */
export interface GatewayAlias {
	method: string;
	fullPath: string;
	action?: string | null;
	handler?: ((...args: never[]) => unknown) & { openapi?: HandlerDoc };
	route: { opts: { name?: string; authorization?: boolean; bodyParsers?: unknown; rateLimit?: unknown; openapi?: RouteDoc } };
}

/** An action as the registry has it: its definition minus the handler, whichever node runs it. */
export interface ActionInfo {
	name: string;
	params?: ValidationSchema;
	openapi?: ActionDoc;
}

export interface GatewayDescription {
	/** The gateway service's name: its own actions have no other service to miss (no 503). */
	service: string;
	aliases: GatewayAlias[];
	actions: Map<string, ActionInfo>;
	/** Files of the gateway's `assets` folder, relative to it. */
	staticFiles: string[];
}

/** Aliases whose action is known to no live node: the document cannot be complete without them. */
export class MissingActions extends Error {
	constructor(readonly actions: string[]) {
		super(`No live instance of ${actions.join(", ")}: their params are unknown`);
		this.name = "MissingActions";
	}
}

const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);

const json = (schema: JsonSchema) => ({ "application/json": { schema } });
const errorAnswer = (description: string, schema: SchemaName = "Error") => ({ description, content: json(ref(schema)) });

const STATIC_TYPES: Record<string, string> = {
	".html": "text/html",
	".js": "text/javascript",
	".css": "text/css",
	".png": "image/png",
	".svg": "image/svg+xml",
	".ico": "image/x-icon",
	".json": "application/json"
};

function packageVersion(): string {
	for (let dir = __dirname; ; dir = path.dirname(dir)) {
		const file = path.join(dir, "package.json");
		if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
		if (path.dirname(dir) === dir) return "0.0.0";
	}
}

/** Does the action validate anything (so that it can answer 422)? */
const validates = (params: ValidationSchema | undefined) => Object.keys(params ?? {}).some(key => !key.startsWith("$$"));

/** `/movies/:id` → `/movies/{id}` and its parameter names. */
function openapiPath(fullPath: string): { path: string; names: string[] } {
	const names: string[] = [];
	const converted = fullPath.replace(/:(\w+)/g, (_m, name: string) => (names.push(name), `{${name}}`));
	return { path: converted, names };
}

/** The errors the gateway itself may answer on this alias, whatever the action. */
function gatewayErrors(alias: GatewayAlias, action: ActionInfo | undefined, service: string, open: boolean): Record<string, object> {
	const route = alias.route.opts;
	const errors: Record<string, object> = {};
	const body = Boolean(route.bodyParsers);
	if (body) errors["400"] = errorAnswer("The body is not JSON, or JSON that is no object or array.");
	if (route.authorization && !open)
		errors["401"] = errorAnswer(
			WRITES.has(alias.method)
				? "No or a wrong `Authorization: Bearer <token>`, on a gateway with `API_TOKEN` (`NO_TOKEN`, `INVALID_TOKEN`)."
				: "No or a wrong `Authorization: Bearer <token>`, on a gateway with `API_TOKEN` and `API_TOKEN_READS` (`NO_TOKEN`, `INVALID_TOKEN`)."
		);
	if (body) errors["413"] = errorAnswer("The body is over 100 kB.");
	// the API routes' onBeforeCall (services/rest.service.ts): a write's body must say it is JSON
	if (body && WRITES.has(alias.method)) errors["415"] = errorAnswer("A body that is not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).");
	if (action && validates(action.params)) errors["422"] = errorAnswer("A parameter failed validation: `data` lists every failing field.", "ValidationError");
	if (route.rateLimit || route.openapi?.rateLimited)
		errors["429"] = errorAnswer("Over `RATE_LIMIT` requests in a minute from this client address (1 200 by default); `Retry-After` says when to come back.");
	if (action && !action.name.startsWith(`${service}.`))
		errors["503"] = errorAnswer(
			"No live instance of the service behind this route, none answered in time, or its store does not answer (`STORE_UNAVAILABLE`): retry later."
		);
	return errors;
}

function actionOperation(alias: GatewayAlias, action: ActionInfo, service: string): object {
	const doc = action.openapi;
	if (!doc) throw new Error(`${alias.method} ${alias.fullPath}: its action ${action.name} has no \`openapi\` description`);
	const { names } = openapiPath(alias.fullPath);
	const fields = paramsSchema(action.params);
	const inPath = new Set(names);
	const rest = Object.entries(fields.properties).filter(([key]) => !inPath.has(key));
	const required = new Set(fields.required ?? []);
	const parameters: object[] = names.map(name => ({
		name,
		in: "path",
		required: true,
		schema: fields.properties[name] ?? { type: "string" }
	}));
	let requestBody: object | undefined;
	if (WITH_BODY.has(alias.method)) {
		const schema: JsonSchema = {
			type: "object",
			properties: Object.fromEntries(rest),
			additionalProperties: fields.additionalProperties
		};
		const bodyRequired = rest.map(([key]) => key).filter(key => required.has(key));
		if (bodyRequired.length > 0) schema.required = bodyRequired;
		if (doc.requireOneOf) schema.anyOf = doc.requireOneOf.map(key => ({ required: [key] }));
		requestBody = { required: true, content: { "application/json": { schema, ...(doc.example ? { example: doc.example } : {}) } } };
	} else {
		for (const [name, schema] of rest)
			parameters.push({
				name,
				in: "query",
				required: required.has(name),
				schema,
				...(doc.example?.[name] !== undefined ? { example: doc.example[name] } : {})
			});
	}
	const open = doc.open === true;
	const status = String(doc.status ?? 200);
	const own = Object.fromEntries(Object.entries(doc.errors ?? {}).map(([code, why]) => [code, errorAnswer(why!, doc.errorSchemas?.[Number(code)])]));
	return {
		operationId: action.name,
		summary: doc.summary,
		...(doc.description ? { description: doc.description } : {}),
		tags: [tagOf(alias.fullPath)],
		...(parameters.length > 0 ? { parameters } : {}),
		...(requestBody ? { requestBody } : {}),
		responses: sortByStatus({
			[status]: {
				description: doc.summary,
				content: {
					...json(ref(doc.response)),
					...Object.fromEntries(Object.entries(doc.alternatives ?? {}).map(([type, description]) => [type, { schema: { type: "object", description } }]))
				}
			},
			...(doc.created ? { "201": { description: doc.created, content: json(ref(doc.response)) } } : {}),
			...gatewayErrors(alias, action, service, open),
			...own
		}),
		...security(alias, open)
	};
}

function handlerOperation(alias: GatewayAlias, service: string): object {
	const doc = alias.handler?.openapi;
	if (!doc) throw new Error(`${alias.method} ${alias.fullPath}: its handler has no \`openapi\` description (documented() in lib/openapi/document.ts)`);
	const own = Object.fromEntries(Object.entries(doc.errors ?? {}).map(([code, why]) => [code, errorAnswer(why!)]));
	return {
		operationId: `${alias.method.toLowerCase()}${alias.fullPath.replace(/[^\w]+(\w)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
		summary: doc.summary,
		...(doc.description ? { description: doc.description } : {}),
		tags: [doc.tag],
		responses: sortByStatus({
			"200": { description: doc.summary, content: { [doc.contentType]: { schema: doc.schema ? ref(doc.schema) : {} } } },
			...gatewayErrors(alias, undefined, service, false),
			...own
		}),
		...security(alias, false)
	};
}

/** A token on a write of a route with authorization; optional on its reads (API_TOKEN_READS). */
function security(alias: GatewayAlias, open: boolean): object {
	if (!alias.route.opts.authorization || open) return {};
	return { security: WRITES.has(alias.method) ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }] };
}

const tagOf = (fullPath: string) => fullPath.split("/")[1] || "dashboard";

const sortByStatus = (responses: Record<string, object>) => Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));

function staticOperation(file: string, urlPath: string): Record<string, object> {
	const type = STATIC_TYPES[path.extname(file)] ?? "application/octet-stream";
	const get = {
		operationId: `static:${urlPath}`,
		summary: `The dashboard's ${file} (public/)`,
		tags: ["dashboard"],
		responses: { "200": { description: file, content: { [type]: { schema: {} } } } }
	};
	return { get, head: { ...get, operationId: `static-head:${urlPath}`, responses: { "200": { description: file } } } };
}

/** The document. Throws MissingActions when an alias's action is not in `actions`. */
export function buildDocument(gateway: GatewayDescription): Record<string, unknown> {
	const paths: Record<string, Record<string, object>> = {};
	const missing = gateway.aliases.filter(alias => alias.action && !gateway.actions.has(alias.action)).map(alias => alias.action!);
	if (missing.length > 0) throw new MissingActions([...new Set(missing)]);
	for (const alias of gateway.aliases) {
		if (alias.method === "*" || alias.method === "REST") throw new Error(`${alias.fullPath}: an alias for every method cannot be documented`);
		const operation = alias.action ? actionOperation(alias, gateway.actions.get(alias.action)!, gateway.service) : handlerOperation(alias, gateway.service);
		const { path: key } = openapiPath(alias.fullPath);
		(paths[key] ??= {})[alias.method.toLowerCase()] = operation;
	}
	for (const file of gateway.staticFiles) {
		const key = `/${file}`;
		paths[key] = { ...paths[key], ...staticOperation(file, key) };
		// serve-static answers a folder with its index.html
		if (path.basename(file) === "index.html") {
			const folder = key.slice(0, -"index.html".length);
			paths[folder] = { ...paths[folder], ...staticOperation(file, folder) };
		}
	}
	return {
		openapi: "3.1.0",
		info: {
			title: "trash-bus",
			version: packageVersion(),
			description: [
				'Movies CRUD and the latest fill level of every trash can, reported in the seed format `{"can_id":"333","level":"30.65"}`.',
				"",
				"JSON in, JSON out. Every error has moleculer-web's shape `{name, message, code, type, data}`; a 422 lists the failing fields in `data`.",
				"When the gateway runs with `API_TOKEN`, every write needs `Authorization: Bearer <token>` (401 otherwise); with `API_TOKEN_READS` the reads too, except the health probes.",
				"Any path or method not listed here is 404."
			].join("\n")
		},
		tags: [
			{ name: "movies", description: "Movies: REST → pilot → db." },
			{ name: "levels", description: "The latest level of every can (trashReport)." },
			{ name: "reports", description: "What became of a report sent with POST /levels." },
			{ name: "workers", description: "Live services by type (systemManager)." },
			{ name: "health", description: "Probes: no token needed." },
			{ name: "dashboard", description: "The live dashboard: its page, scripts and event stream." },
			{ name: "reference", description: "This document and its reference page." }
		].filter(tag => Object.values(paths).some(item => Object.values(item).some(op => (op as { tags: string[] }).tags.includes(tag.name)))),
		paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
		components: {
			schemas: SCHEMAS,
			securitySchemes: {
				bearerAuth: { type: "http", scheme: "bearer", description: "The gateway's `API_TOKEN`." }
			}
		}
	};
}

/** The files of a static folder, relative to it, sorted. */
export function listStaticFiles(folder: string | undefined): string[] {
	if (!folder || !fs.existsSync(folder)) return [];
	return (fs.readdirSync(folder, { recursive: true, withFileTypes: true }) as fs.Dirent[])
		.filter(entry => entry.isFile())
		.map(entry => path.relative(folder, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
		.sort();
}
