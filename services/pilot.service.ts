import type { Context, ServiceSchema } from "moleculer";
import type { ListParams, Movie, MovieInput, MoviePage } from "../lib/contracts";
import { printable } from "../lib/contracts";
import { CALLS } from "../lib/retry";

const SORTABLE = ["title", "year", "director", "createdAt", "updatedAt"];
// A fixed bound rather than "ten years from now": the OpenAPI document generated from these params
// is committed (docs/openapi.json), and a bound moving with the clock would make it stale each year.
const LAST_YEAR = 2100;

// Shared shapes of a movie's fields: create requires the title, update requires nothing.
const movieFields = {
	title: printable({ type: "string", trim: true, min: 1, max: 200 }),
	year: { type: "number", integer: true, min: 1878, max: LAST_YEAR, convert: true, optional: true },
	director: printable({ type: "string", trim: true, min: 1, max: 200, optional: true }),
	genres: { type: "array", items: printable({ type: "string", trim: true, min: 1, max: 50 }), max: 20, unique: true, optional: true },
	$$strict: "remove"
} as const;

/**
 * The job orchestrator for movies (REST → pilot → db): validates and normalises the input,
 * calls `db`, and emits `movie.created|updated|removed` for whoever listens.
 */
const PilotService: ServiceSchema = {
	name: "pilot",
	actions: {
		/** A page of movies, optionally sorted ("title", "-year"…) and filtered by a text search. */
		list: {
			params: {
				page: { type: "number", integer: true, positive: true, convert: true, optional: true },
				pageSize: { type: "number", integer: true, positive: true, max: 100, convert: true, optional: true },
				// patterns as text: the params cross the bus (INFO packets) to the gateway's OpenAPI document, a RegExp would not
				sort: { type: "string", pattern: `^-?(${SORTABLE.join("|")})$`, optional: true, description: "A field, `-` first for descending." },
				search: { type: "string", max: 200, optional: true, description: "Text searched in title and director." },
				$$strict: "remove"
			},
			openapi: {
				summary: "A page of movies, optionally sorted and searched",
				response: "MoviePage",
				example: { page: 1, pageSize: 10, sort: "-year", search: "alien" }
			},
			handler(ctx: Context<ListParams>): Promise<MoviePage> {
				const { page, pageSize, sort, search } = ctx.params;
				const query = { page, pageSize, sort, ...(search ? { search, searchFields: ["title", "director"] } : {}) };
				return ctx.call("db.list", query, CALLS.dbRead);
			}
		},

		/** One movie by id (404 when unknown). */
		get: {
			params: { id: { type: "string", min: 1, max: 64 } },
			openapi: { summary: "One movie", response: "Movie", errors: { 404: "No movie with that id (`EntityNotFoundError`)." } },
			handler(ctx: Context<{ id: string }>): Promise<Movie> {
				return ctx.call("db.get", { id: ctx.params.id }, CALLS.dbRead);
			}
		},

		/** Creates a movie; answers 201 through the gateway. */
		create: {
			params: movieFields,
			openapi: {
				summary: "Creates a movie (201, `Location` says where it is)",
				status: 201,
				response: "Movie",
				example: { title: "Alien", year: 1979, director: "Ridley Scott", genres: ["horror", "sci-fi"] }
			},
			async handler(ctx: Context<MovieInput, { $statusCode?: number; $location?: string }>): Promise<Movie> {
				const now = new Date().toISOString();
				const movie = await ctx.call<Movie, object>("db.create", { ...ctx.params, createdAt: now, updatedAt: now }, CALLS.dbWrite);
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/movies/${encodeURIComponent(movie.id)}`;
				this.logger.info(`Movie ${movie.id} created`);
				ctx.emit("movie.created", movie);
				return movie;
			}
		},

		/** Changes the given fields of a movie (404 when unknown). */
		update: {
			params: {
				id: { type: "string", min: 1, max: 64 },
				...movieFields,
				title: { ...movieFields.title, optional: true }
			},
			openapi: {
				summary: "Changes the given fields of a movie",
				response: "Movie",
				errors: { 404: "No movie with that id (`EntityNotFoundError`)." },
				example: { director: "Ridley Scott" }
			},
			async handler(ctx: Context<Partial<MovieInput> & { id: string }>): Promise<Movie> {
				const movie = await ctx.call<Movie, object>(
					"db.update",
					{
						...ctx.params,
						updatedAt: new Date().toISOString()
					},
					CALLS.dbWrite
				);
				this.logger.info(`Movie ${movie.id} updated`);
				ctx.emit("movie.updated", movie);
				return movie;
			}
		},

		/** Deletes a movie (404 when unknown) and answers its id. */
		remove: {
			params: { id: { type: "string", min: 1, max: 64 } },
			openapi: { summary: "Deletes a movie and answers its id", response: "MovieRemoved", errors: { 404: "No movie with that id (`EntityNotFoundError`)." } },
			async handler(ctx: Context<{ id: string }>): Promise<{ id: string }> {
				const { id } = ctx.params;
				await ctx.call("db.remove", { id }, CALLS.dbWrite);
				this.logger.info(`Movie ${id} removed`);
				ctx.emit("movie.removed", { id });
				return { id };
			}
		},

		/** Number of movies (the dashboard shows it). */
		count: {
			params: {},
			handler(ctx: Context): Promise<number> {
				return ctx.call("db.count", {}, CALLS.dbRead);
			}
		}
	}
};

export default PilotService;
