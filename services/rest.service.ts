import { createHash, timingSafeEqual } from "node:crypto";
import path from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CallingOptions, Context, Service, ServiceBroker, ServiceSchema } from "moleculer";
import { Errors } from "moleculer";
import ApiGateway from "moleculer-web";
import type { ApiRouteSchema, ApiSettingsSchema, RateLimitSettings, RateLimitStore } from "moleculer-web";
import { config } from "../lib/config";
import { WRITE_METHODS as WRITES } from "../lib/contracts";
import { CALLS, NO_RETRY } from "../lib/retry";
import { LIVE_PATH, LiveEventsMixin, liveRoutes } from "./rest/dashboard";
import { OpenApiMixin, openapiRoutes } from "./rest/openapi";
import type { ActionDoc } from "../lib/openapi/document";
import { VALID_REQUEST_ID } from "../middlewares/request-id.middleware";

/** Services the REST contract needs; readiness fails while one has no live instance. */
const REQUIRED_SERVICES = ["pilot", "db", "trashReport", "systemManager"];
/** Services whose store readiness checks. */
const STORE_SERVICES = ["db", "trashReport"];

export type CheckState = "ok" | string;
export interface Readiness {
	status: "ready";
	checks: Record<string, CheckState>;
}

interface RestSettings extends ApiSettingsSchema {
	/** When set, POST/PUT/DELETE need `Authorization: Bearer <apiToken>`. */
	apiToken: string | null;
	/** Reads need the token too. */
	apiTokenReads: boolean;
}

type GatewayThis = Service<RestSettings> & { server: import("node:http").Server };
type StaticServer = (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next: (err?: unknown) => void) => void;

const digest = (text: string) => createHash("sha256").update(text).digest();

// Errors that mean "nobody can serve this right now": the caller should retry later (503),
// rather than read a 404 about an internal service name. A timeout is one of them: the workers
// that were asked did not answer within REQUEST_TIMEOUT_MS (typically: just died).
const UNAVAILABLE = new Set(["SERVICE_NOT_FOUND", "SERVICE_NOT_AVAILABLE", "BAD_GATEWAY", "REQUEST_TIMEOUT"]);

/** moleculer-web counts each route's requests in a store of its own: both API routes share one per gateway, so a client has one limit. */
const rateLimitStores = new WeakMap<object, RateLimitStore>();
function SharedRateLimitStore(window: number, opts: RateLimitSettings, broker: ServiceBroker): RateLimitStore {
	let store = rateLimitStores.get(broker);
	if (!store) rateLimitStores.set(broker, (store = new ApiGateway.RateLimitStores.MemoryStore(window, opts, broker)));
	return store;
}

const encodedAnswers = new WeakMap<object, string>();

/** moleculer-web formats a request's and a response's log line (colours, duration) before the logger drops them: only when they are printed. */
const LOG_REQUESTS = ["debug", "trace"].includes(config.logLevel);

/**
 * A route of the REST contract at `/`: its aliases and nothing else (no auto-aliases, no `$node.*`).
 * `body`: whether its requests carry a JSON body (reads take everything from the path and query).
 */
function apiRoute(name: string, { callOptions, body }: { callOptions: CallingOptions; body: boolean }, aliases: Record<string, string>): ApiRouteSchema {
	return {
		name,
		path: "/",
		mappingPolicy: "restrict",
		autoAliases: false,
		authorization: true,
		callOptions: { ...callOptions },
		aliases,
		// JSON only, 100 kB at most (413 above, 400 for malformed JSON, 415 for another type).
		bodyParsers: body ? { json: { strict: true, limit: "100kb" }, urlencoded: false } : false,
		// Per client address (not X-Forwarded-For, which any client can write); 0 turns it off.
		...(config.rateLimit > 0
			? {
					rateLimit: {
						window: 60_000,
						limit: config.rateLimit,
						headers: true,
						key: (req: IncomingMessage) => req.socket.remoteAddress ?? "unknown",
						StoreFactory: SharedRateLimitStore as unknown as typeof RateLimitStore
					}
				}
			: {}),
		onBeforeCall(
			this: Service,
			ctx: Context,
			_route: unknown,
			req: IncomingMessage & { $endpoint?: { id: string | null; local: boolean }; $action?: { name?: string }; $params?: Record<string, unknown> }
		) {
			// FIWARE tools ask for NGSI-LD by media type rather than by query
			if (req.$action?.name === "trashReport.getCan" && req.$params && /\bapplication\/ld\+json\b/i.test(req.headers.accept ?? ""))
				req.$params.format ??= "ngsi-ld";
			// A write must say it is JSON: anything else would reach the action as an empty body.
			if (WRITES.has(req.method ?? "") && Number(req.headers["content-length"] ?? 0) > 0 && !/^application\/json\b/i.test(req.headers["content-type"] ?? ""))
				throw new Errors.MoleculerClientError("Content-Type must be application/json.", 415, "UNSUPPORTED_MEDIA_TYPE", {
					contentType: req.headers["content-type"] ?? null
				});
			// moleculer-web picks a node itself and calls it by id; where the bus balances calls
			// (disableBalancer), a remote call goes by name instead, so the bus routes around a dead
			// replica. A local one (this gateway's own health) stays on this node.
			if (req.$endpoint && !req.$endpoint.local && this.broker.options.disableBalancer)
				req.$endpoint = Object.assign(Object.create(req.$endpoint), { id: null });
		},
		logging: LOG_REQUESTS,
		// the OpenAPI document lists its 429 whatever RATE_LIMIT this process runs with
		openapi: { rateLimited: true }
	};
}

/**
 * The only HTTP entry: the REST contract of DESIGN.md as moleculer-web aliases.
 */
const RestService: ServiceSchema<RestSettings> = {
	name: "rest",
	// the live streams end (LiveEvents.stopped) before ApiGateway.stopped waits for every connection
	mixins: [LiveEventsMixin(), OpenApiMixin(), ApiGateway],
	settings: {
		// settings are published to every node in INFO packets: the token stays on the gateway
		$secureSettings: ["apiToken"],
		port: config.port,
		apiToken: config.apiToken,
		apiTokenReads: config.apiTokenReads,
		ip: "0.0.0.0",
		routes: [
			// Reads and writes differ only in how a call is retried (lib/retry.ts CALLS): a read that
			// got no answer (its replica was killed with it) is sent again; a write is not.
			apiRoute(
				"reads",
				{ callOptions: CALLS.gatewayRead, body: false },
				{
					"GET /movies": "pilot.list",
					"GET /movies/:id": "pilot.get",
					"GET /levels": "trashReport.levels",
					"GET /levels/:canId": "trashReport.get",
					"GET /levels/:canId/history": "trashReport.history",
					"GET /cans": "trashReport.cans",
					"GET /cans/:canId": "trashReport.getCan",
					"GET /cans/:canId/collections": "trashReport.collections",
					"GET /reports/:id": "trashReport.status",
					"GET /workers": "systemManager.workers",
					"GET /health/live": "rest.live",
					"GET /health/ready": "rest.ready"
				}
			),
			apiRoute(
				"writes",
				{ callOptions: CALLS.gatewayWrite, body: true },
				{
					"POST /movies": "pilot.create",
					"PUT /movies/:id": "pilot.update",
					"DELETE /movies/:id": "pilot.remove",
					"POST /levels": "trashReport.report",
					"PUT /cans/:canId": "trashReport.putCan",
					"DELETE /cans/:canId": "trashReport.removeCan"
				}
			),
			// the dashboard: uPlot from node_modules and the server-sent events of LIVE_PATH
			...liveRoutes,
			// GET /openapi.json, generated from these routes, and its reference page GET /docs
			...openapiRoutes
		],
		assets: { folder: path.resolve(__dirname, "../public") },
		// moleculer-web takes X-Request-ID (or X-Correlation-ID) as the request id and answers it
		// back; an unusable one is replaced by a generated id rather than echoed into every log.
		rootCallOptions: function (options: { requestID?: string; tracking?: boolean }, req: IncomingMessage) {
			if (options.requestID != null && !VALID_REQUEST_ID.test(options.requestID)) delete options.requestID;
			// an open event stream is no request in flight: shutdown ends it rather than waiting for it
			if (req.url?.split("?")[0] === LIVE_PATH) options.tracking = false;
		} as never,
		log4XXResponses: false,
		logRequest: "debug",
		logResponse: "debug"
	},

	actions: {
		/**
		 * moleculer-web's HTTP handler (merged with its own definition): the request itself is never
		 * run again by the broker's retry policy, which would repeat a write; its calls are retried
		 * by route (CALLS).
		 */
		rest: { retryPolicy: { enabled: false } },

		/** Liveness: the process answers. */
		live: {
			params: {},
			openapi: { summary: "Liveness: the process answers", response: "Live", open: true },
			handler() {
				return { status: "live", nodeID: this.broker.nodeID, uptime: Math.round(process.uptime()) };
			}
		},

		/** Readiness: broker started, transporter connected, required services and their stores reachable. */
		ready: {
			params: {},
			openapi: {
				summary: "Readiness: broker started, bus connected, every service the API needs live, both stores answering",
				response: "Readiness",
				errors: { 503: "Not ready: `data.checks` names what is down." },
				errorSchemas: { 503: "NotReady" },
				open: true
			},
			async handler(ctx: Context): Promise<Readiness> {
				const checks: Record<string, CheckState> = {};
				checks.broker = this.broker.started ? "ok" : "starting";
				const transit = this.broker.transit;
				checks.transporter = !transit || transit.connected ? "ok" : "disconnected";
				const live = new Set(this.broker.registry.getServiceList({ onlyAvailable: true }).map(svc => svc.name));
				for (const name of REQUIRED_SERVICES) checks[`service:${name}`] = live.has(name) ? "ok" : "no live instance";
				await Promise.all(
					STORE_SERVICES.filter(name => checks[`service:${name}`] === "ok").map(async name => {
						try {
							await ctx.call(`${name}.checkStore`, {}, { timeout: 2_000, ...NO_RETRY });
							checks[`store:${name}`] = "ok";
						} catch (err) {
							checks[`store:${name}`] = (err as Error).message;
						}
					})
				);
				const down = Object.entries(checks).filter(([, state]) => state !== "ok");
				if (down.length > 0)
					throw new Errors.MoleculerError(`Not ready: ${down.map(([name, state]) => `${name} ${state}`).join(", ")}`, 503, "NOT_READY", { checks });
				return { status: "ready", checks };
			}
		}
	},

	created(this: Service<RestSettings> & { serve?: StaticServer }) {
		// moleculer-web leaves req.url relative to the last route it tried (/events, /vendor), so its
		// static server answered GET /vendor with index.html and /events/app.js with app.js: it
		// serves the URL as asked instead (test/integration/openapi.spec.ts, nothing undocumented).
		const serve = this.serve;
		if (serve) this.serve = (req, res, next) => serve(Object.assign(req, { url: req.originalUrl ?? req.url }), res, next);
	},

	methods: {
		/**
		 * CORS is off (DESIGN.md), so an OPTIONS request is 404 before any route is resolved.
		 * moleculer-web resolves a preflight to the alias of the method it names
		 * (Access-Control-Request-Method, GET when none) and runs that alias's action: a preflight
		 * naming DELETE deleted a movie, without a token (test/integration/api-token.spec.ts).
		 */
		httpHandler(this: GatewayThis, req: IncomingMessage, res: ServerResponse, next?: () => void) {
			if (req.method === "OPTIONS" && !this.settings.cors)
				return (this as unknown as { send404(req: IncomingMessage, res: ServerResponse): void }).send404(req, res);
			return ApiGateway.methods!.httpHandler.call(this, req, res, next);
		},

		/** A frozen answer cannot change (trashReport's levels between two writes): serialized once. */
		encodeResponse(this: GatewayThis, req: IncomingMessage, res: ServerResponse, data: unknown): string {
			const encode = () => ApiGateway.methods!.encodeResponse.call(this, req, res, data) as string;
			if (data === null || typeof data !== "object" || !Object.isFrozen(data)) return encode();
			let json = encodedAnswers.get(data);
			if (json === undefined) encodedAnswers.set(data, (json = encode()));
			return json;
		},

		/**
		 * Writes (and reads, with API_TOKEN_READS) need the API token when one is configured. 401 otherwise.
		 * A write is told by the method of the alias that runs, not the request's: they differ when
		 * moleculer-web resolves a preflight's Access-Control-Request-Method (see httpHandler).
		 */
		authorize(
			this: GatewayThis,
			_ctx: Context,
			_route: unknown,
			req: IncomingMessage & { $action?: { openapi?: ActionDoc } },
			_res: ServerResponse,
			alias: { method: string }
		) {
			const token = this.settings.apiToken;
			if (!token || (!WRITES.has(alias.method) && !this.settings.apiTokenReads)) return;
			// probes of load balancers and Kubernetes carry no token: their actions say `openapi.open`
			if (req.$action?.openapi?.open === true) return;
			const header = req.headers.authorization;
			if (!header) throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_NO_TOKEN, null);
			const [scheme, given = ""] = header.split(" ", 2);
			// Compare digests: equal length, so timingSafeEqual never leaks the token's length.
			if (scheme !== "Bearer" || !timingSafeEqual(digest(given), digest(token)))
				throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_INVALID_TOKEN, null);
		},

		/** moleculer-web's error rendering, with "no live instance" errors turned into 503. */
		sendError(this: GatewayThis, req: IncomingMessage & { $route?: { rateLimit?: { window: number } } }, res: ServerResponse, err: Errors.MoleculerError) {
			if (err && UNAVAILABLE.has(err.type)) err = new ApiGateway.Errors.ServiceUnavailableError(err.type, err.data);
			if (err?.code === 401 && !res.headersSent) res.setHeader("WWW-Authenticate", `Bearer realm="trash-bus"`);
			if (err?.code === 429 && !res.headersSent) res.setHeader("Retry-After", String(Math.ceil((req.$route?.rateLimit?.window ?? 60_000) / 1000)));
			return ApiGateway.methods!.sendError.call(this, req, res, err);
		}
	}
};

export default RestService;
