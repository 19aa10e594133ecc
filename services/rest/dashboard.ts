import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import type { ApiRouteSchema } from "moleculer-web";
import { config } from "../../lib/config";
import type { CanLevel, LevelsUpdated, MoviePage, Worker } from "../../lib/contracts";
import { documented } from "../../lib/openapi/document";
import { NO_RETRY, RETRIES, retryDelay } from "../../lib/retry";

/** Where the dashboard's event stream is served. */
export const LIVE_PATH = "/events";

export interface LiveEventsOptions {
	/** Streams open at once; one more is answered 503 (the page retries). */
	maxClients?: number;
	/** Bytes a client may leave unread before its stream is cut (it reconnects and resyncs). */
	maxBufferedBytes?: number;
	/** Comment line on an idle stream, so proxies do not close it. */
	heartbeatMs?: number;
	/** How often changed levels are sent, coalesced per can. */
	flushMs?: number;
	/** Seconds of reports-per-second history kept and sent to a new client. */
	historySeconds?: number;
}

/** The dashboard map's background: tiles (`MAP_TILES`) or, when null, a plain one. */
export interface MapSettings {
	tiles: string | null;
	attribution: string;
}

/** The first message of every stream: the whole state, so a reconnected page starts afresh. */
export interface LiveSnapshot {
	nodeID: string;
	fullThreshold: number;
	map: MapSettings;
	historySeconds: number;
	/** `null` when the service behind it did not answer; the stream sends another snapshot soon. */
	levels: CanLevel[] | null;
	workers: Worker[] | null;
	movies: number | null;
	/** `[unix second, levels changed in that second (`levels.updated`)]`, oldest first. */
	rate: [number, number][];
}

interface LiveClient {
	res: ServerResponse;
	ctx: Context;
	/** The next snapshot, while a part of the last one was missing. */
	retry?: NodeJS.Timeout;
	incompleteSnapshots: number;
}

interface LiveState {
	clients: Set<LiveClient>;
	/** Newest update per can since the last flush. */
	pending: Map<string, CanLevel>;
	rate: [number, number][];
	timers: NodeJS.Timeout[];
	workersTimer?: NodeJS.Timeout;
	moviesTimer?: NodeJS.Timeout;
}

interface LiveMethods {
	openLiveStream(req: IncomingMessage & { $ctx: Context }, res: ServerResponse): void;
	sendLive(client: LiveClient, event: string, data: unknown): void;
	broadcastLive(event: string, data: unknown): void;
	sendSnapshot(client: LiveClient): Promise<void>;
	countLevelUpdates(n: number, now?: number): void;
	refreshLive(part: "workers" | "movies"): void;
	closeLiveStreams(): void;
}

interface LiveSettings extends ServiceSettingSchema {
	/** A can at or above this level (%) is listed as full. */
	fullThreshold: number;
	map: MapSettings;
}

interface LiveVars {
	live: LiveState;
	liveOptions: Required<LiveEventsOptions>;
}

type LiveSchema = ServiceSchema<LiveSettings, LiveMethods, LiveVars>;

const SNAPSHOT_CALL = { timeout: 3_000, ...NO_RETRY };

/** Serves one file of an npm package (resolved, not copied, so it works from `dist/` too). */
export function packageFile(request: string, contentType: string) {
	const file = require.resolve(request);
	return (_req: IncomingMessage, res: ServerResponse) => {
		res.writeHead(200, { "Content-Type": contentType, "Cache-Control": "public, max-age=86400" });
		fs.createReadStream(file).pipe(res);
	};
}

/**
 * The dashboard's gateway routes: uPlot and Leaflet from node_modules (no CDN, no token: it is
 * no data) and the event stream (a read like any other: API_TOKEN_READS applies).
 */
export const liveRoutes: ApiRouteSchema[] = [
	{
		path: "/vendor",
		mappingPolicy: "restrict",
		autoAliases: false,
		authorization: false,
		// no request here has a body (moleculer-web would parse JSON by default, and answer 400/413)
		bodyParsers: false,
		aliases: {
			"GET /uPlot.iife.min.js": documented(
				{ summary: "uPlot, the dashboard's chart (from node_modules)", tag: "dashboard", contentType: "text/javascript" },
				packageFile("uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8")
			),
			"GET /uPlot.min.css": documented(
				{ summary: "uPlot's style", tag: "dashboard", contentType: "text/css" },
				packageFile("uplot/dist/uPlot.min.css", "text/css; charset=utf-8")
			),
			// the map draws its markers as SVG: none of Leaflet's images is asked for
			"GET /leaflet.js": documented(
				{ summary: "Leaflet, the dashboard's map (from node_modules)", tag: "dashboard", contentType: "text/javascript" },
				packageFile("leaflet/dist/leaflet.js", "text/javascript; charset=utf-8")
			),
			"GET /leaflet.css": documented(
				{ summary: "Leaflet's style", tag: "dashboard", contentType: "text/css" },
				packageFile("leaflet/dist/leaflet.css", "text/css; charset=utf-8")
			)
		}
	},
	{
		path: LIVE_PATH,
		mappingPolicy: "restrict",
		autoAliases: false,
		authorization: true,
		bodyParsers: false,
		aliases: {
			"GET /": documented(
				{
					summary: "The dashboard's live data: server-sent events",
					description:
						"A `snapshot` event first (every can, the workers, the movie count, the rate history, the map's settings), then `levels` (the changed cans, every 250 ms), `workers`, `movies`, `rate` (one point a second) and a `: heartbeat` comment every 15 s.",
					tag: "dashboard",
					contentType: "text/event-stream",
					errors: { 503: "This gateway already streams to its maximum of clients (`TOO_MANY_LIVE_CLIENTS`); `Retry-After` says when to come back." }
				},
				function (this: LiveMethods, req: IncomingMessage & { $ctx: Context }, res: ServerResponse) {
					this.openLiveStream(req, res);
				}
			)
		}
	}
];

/**
 * Server-sent events for the dashboard, fed by the broker events this gateway receives:
 * `levels.updated` (coalesced per can, and counted per second), `worker.new`/`worker.del` (the
 * registry is re-read and sent whole) and `movie.*` (recounted). A stream starts with a full
 * snapshot, so a page that reconnects — e.g. after this gateway restarted — is in sync again.
 *
 * List it before ApiGateway in `mixins`: its `stopped` must end the streams before the gateway's
 * `server.close()` waits for every connection to finish.
 */
export function LiveEventsMixin(options: LiveEventsOptions = {}): Partial<ServiceSchema> {
	// at most 100 × 1 MB of unread events per gateway
	const opts: Required<LiveEventsOptions> = { maxClients: 100, maxBufferedBytes: 1 << 20, heartbeatMs: 15_000, flushMs: 250, historySeconds: 300, ...options };
	const schema: Omit<LiveSchema, "name"> = {
		settings: {
			fullThreshold: config.fullThreshold,
			map: { tiles: config.mapTiles, attribution: config.mapAttribution }
		},

		events: {
			"$broker.started"() {
				const resync = () => this.live.clients.forEach(client => void this.sendSnapshot(client));
				resync();
				// The other nodes learn this one's event subscriptions from its next INFO packet, sent
				// serviceChangedDebounceTime (1 s) after its services registered: what changed until
				// then was sent to nobody here (seen after a gateway restart). One more snapshot closes the gap.
				const debounceMs = (this.broker.options.transit as { serviceChangedDebounceTime?: number } | undefined)?.serviceChangedDebounceTime ?? 1_000;
				this.live.timers.push(setTimeout(resync, debounceMs + 1_000));
			},
			"levels.updated"(ctx: Context<LevelsUpdated>) {
				for (const level of ctx.params.levels) this.live.pending.set(level.canId, level);
				this.countLevelUpdates(ctx.params.levels.length);
			},
			"worker.new"() {
				this.refreshLive("workers");
			},
			"worker.del"() {
				this.refreshLive("workers");
			},
			"movie.created"() {
				this.refreshLive("movies");
			},
			"movie.removed"() {
				this.refreshLive("movies");
			}
		},

		methods: {
			openLiveStream(req: IncomingMessage & { $ctx: Context }, res: ServerResponse) {
				if (this.live.clients.size >= this.liveOptions.maxClients) {
					// moleculer-web answers it in the error shape of every other error
					res.setHeader("Retry-After", "5");
					throw new Errors.MoleculerError("Too many live clients", 503, "TOO_MANY_LIVE_CLIENTS", { maxClients: this.liveOptions.maxClients });
				}
				res.writeHead(200, {
					"Content-Type": "text/event-stream; charset=utf-8",
					"Cache-Control": "no-cache, no-transform",
					// nginx and the like would buffer the stream otherwise
					"X-Accel-Buffering": "no",
					// one response per connection: once the stream ends, so does the socket
					Connection: "close"
				});
				// the browser's reconnect delay after the stream was cut
				res.write("retry: 1000\n\n");
				const client: LiveClient = { res, ctx: req.$ctx, incompleteSnapshots: 0 };
				this.live.clients.add(client);
				req.on("close", () => {
					clearTimeout(client.retry);
					this.live.clients.delete(client);
				});
				// Before the broker has started, the other nodes do not know this one's event subscriptions
				// yet: a snapshot taken now could miss updates that nobody sends us. $broker.started sends it.
				if (this.broker.started) void this.sendSnapshot(client);
			},

			/** Writes one event; a client that stopped reading is cut rather than buffered for ever. */
			sendLive(client: LiveClient, event: string, data: unknown) {
				if (client.res.writableLength > this.liveOptions.maxBufferedBytes) {
					this.logger.warn(`A live client left ${client.res.writableLength} bytes unread: closing its stream`);
					this.live.clients.delete(client);
					client.res.destroy();
					return;
				}
				client.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
			},

			broadcastLive(event: string, data: unknown) {
				for (const client of this.live.clients) this.sendLive(client, event, data);
			},

			/** The whole state; a part whose service did not answer is `null`, and the snapshot is sent again (`RETRIES.snapshot`). */
			async sendSnapshot(client: LiveClient) {
				const [levels, workers, movies] = await Promise.allSettled([
					client.ctx.call<CanLevel[], object>("trashReport.levels", {}, SNAPSHOT_CALL),
					client.ctx.call<Worker[], object>("systemManager.workers", {}, SNAPSHOT_CALL),
					client.ctx.call<MoviePage, object>("pilot.list", { pageSize: 1 }, SNAPSHOT_CALL)
				]);
				if (!this.live.clients.has(client)) return;
				const snapshot: LiveSnapshot = {
					nodeID: this.broker.nodeID,
					fullThreshold: this.settings.fullThreshold,
					map: this.settings.map,
					historySeconds: this.liveOptions.historySeconds,
					levels: levels.status === "fulfilled" ? levels.value : null,
					workers: workers.status === "fulfilled" ? workers.value : null,
					movies: movies.status === "fulfilled" ? movies.value.total : null,
					rate: this.live.rate
				};
				this.sendLive(client, "snapshot", snapshot);
				clearTimeout(client.retry);
				if (snapshot.levels == null || snapshot.workers == null || snapshot.movies == null)
					client.retry = setTimeout(() => this.sendSnapshot(client), retryDelay(RETRIES.snapshot, ++client.incompleteSnapshots));
				else client.incompleteSnapshots = 0;
			},

			/** `n` more changed levels in the current second of the history. */
			countLevelUpdates(n: number, now = Date.now()) {
				const second = Math.floor(now / 1000);
				const last = this.live.rate.at(-1);
				if (last && last[0] === second) last[1] += n;
				else this.live.rate.push([second, n]);
			},

			/** Re-reads the registry or the movie count (debounced: a node joining fires many events) and sends it. */
			refreshLive(part: "workers" | "movies") {
				const key = part === "workers" ? "workersTimer" : "moviesTimer";
				if (this.live[key] || this.live.clients.size === 0) return;
				this.live[key] = setTimeout(async () => {
					this.live[key] = undefined;
					try {
						if (part === "workers") this.broadcastLive("workers", await this.broker.call("systemManager.workers", {}, SNAPSHOT_CALL));
						else this.broadcastLive("movies", (await this.broker.call<MoviePage, object>("pilot.list", { pageSize: 1 }, SNAPSHOT_CALL)).total);
					} catch (err) {
						this.logger.debug(`Live ${part} not refreshed:`, (err as Error).message);
					}
				}, 100);
			},

			closeLiveStreams() {
				for (const client of this.live.clients) {
					clearTimeout(client.retry);
					client.res.end();
				}
				this.live.clients.clear();
			}
		},

		created() {
			this.liveOptions = opts;
			this.live = { clients: new Set(), pending: new Map(), rate: [], timers: [] };
		},

		started() {
			const { flushMs, heartbeatMs, historySeconds } = this.liveOptions;
			this.live.timers.push(
				setInterval(() => {
					if (this.live.pending.size === 0) return;
					const levels = [...this.live.pending.values()];
					this.live.pending.clear();
					this.broadcastLive("levels", levels);
				}, flushMs),
				// every second, also a quiet one: the page's chart moves on with time
				setInterval(() => {
					const second = Math.floor(Date.now() / 1000) - 1;
					const rate = this.live.rate;
					while (rate.length > 0 && rate[0][0] <= second - historySeconds) rate.shift();
					this.broadcastLive("rate", [second, rate.find(([t]) => t === second)?.[1] ?? 0]);
				}, 1_000),
				setInterval(() => {
					for (const client of this.live.clients) client.res.write(": heartbeat\n\n");
					// pilot's movie events reach one gateway of several (emit, not broadcast): recount now and then
					this.refreshLive("movies");
				}, heartbeatMs)
			);
		},

		stopped() {
			this.live.timers.forEach(clearInterval);
			clearTimeout(this.live.workersTimer);
			clearTimeout(this.live.moviesTimer);
			this.closeLiveStreams();
		}
	};
	return schema as unknown as Partial<ServiceSchema>;
}
