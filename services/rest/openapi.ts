import type { IncomingMessage, ServerResponse } from "node:http";
import type { Service, ServiceSchema } from "moleculer";
import { Errors } from "moleculer";
import type { ApiRouteSchema } from "moleculer-web";
import { buildDocument, documented, listStaticFiles, MissingActions } from "../../lib/openapi/document";
import type { ActionInfo, GatewayAlias, GatewayDescription } from "../../lib/openapi/document";
import { packageFile } from "./dashboard";

/** Where the document and its reference page are served. */
export const OPENAPI_PATH = "/openapi.json";
export const DOCS_PATH = "/docs";

type Gateway = Service<{ assets?: { folder?: string } }> & {
	aliases: GatewayAlias[];
	openapi: { json: string | null };
	openapiDocument(): Record<string, unknown>;
	openapiDocumentJson(): string;
};

/**
 * What the gateway serves, and the actions behind it: from the registry (wherever they run; their
 * definitions come with the nodes' INFO packets), from this process's own services, started or
 * not, and from `schemas` of services that are not created at all (`npm run openapi`, which must
 * not open their stores). Mixins of those are not merged: an alias to an action that only a mixin
 * brings would be missing, and the document fails rather than leave it out.
 */
export function describeGateway(gateway: Gateway, schemas: ServiceSchema[] = []): GatewayDescription {
	const actions = new Map<string, ActionInfo>();
	for (const item of gateway.broker.registry.getActionList({ onlyAvailable: true, skipInternal: true }))
		if (item.action) actions.set(item.name, { name: item.name, params: item.action.params as never, openapi: item.action.openapi });
	const fromSchema = (service: string, defs: ServiceSchema["actions"]) => {
		for (const [key, action] of Object.entries(defs ?? {})) {
			if (action == null || typeof action !== "object") continue;
			const name = action.name ?? `${service}.${key}`;
			actions.set(name, { name, params: action.params as never, openapi: action.openapi });
		}
	};
	for (const service of gateway.broker.services) fromSchema(service.fullName, service.schema.actions);
	for (const schema of schemas) fromSchema(schema.name, schema.actions);
	return { service: gateway.name, aliases: gateway.aliases, actions, staticFiles: listStaticFiles(gateway.settings.assets?.folder) };
}

// Swagger UI from node_modules (swagger-ui-dist), pointed at the document; no CDN, and no call to
// its online validator (validatorUrl). The favicon link keeps the browser from asking for one.
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>trash-bus API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/initializer.js"></script>
</body>
</html>
`;

const INITIALIZER = `window.ui = SwaggerUIBundle({
	url: ${JSON.stringify(OPENAPI_PATH)},
	dom_id: "#swagger-ui",
	deepLinking: true,
	validatorUrl: null,
	presets: [SwaggerUIBundle.presets.apis],
	layout: "BaseLayout"
});
`;

const text = (contentType: string, body: string) => (_req: IncomingMessage, res: ServerResponse) => {
	res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
	res.end(body);
};

const asset = (summary: string, contentType: string) => ({ summary, tag: "reference", contentType });

/**
 * The document (`GET /openapi.json`) and its reference page (`GET /docs`, Swagger UI). No token:
 * they describe the API and hold no data.
 */
export const openapiRoutes: ApiRouteSchema[] = [
	{
		name: "reference",
		path: "/",
		mappingPolicy: "restrict",
		autoAliases: false,
		authorization: false,
		bodyParsers: false,
		aliases: {
			[`GET ${OPENAPI_PATH}`]: documented(
				{
					summary: "This OpenAPI 3.1 document, generated from the gateway's routes and the params of the actions behind them",
					tag: "reference",
					contentType: "application/json",
					schema: "OpenApiDocument",
					errors: { 503: "A service behind a route has no live instance: its params are unknown until it is back (`data.actions`)." }
				},
				function (this: Gateway, _req: IncomingMessage, res: ServerResponse) {
					const json = this.openapiDocumentJson();
					res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(json) });
					res.end(json);
				}
			),
			[`GET ${DOCS_PATH}`]: documented(asset("The API reference: Swagger UI on this document", "text/html"), text("text/html; charset=utf-8", DOCS_PAGE)),
			[`GET ${DOCS_PATH}/initializer.js`]: documented(
				asset("The reference page's script: Swagger UI on /openapi.json", "text/javascript"),
				text("text/javascript; charset=utf-8", INITIALIZER)
			),
			[`GET ${DOCS_PATH}/swagger-ui.css`]: documented(
				asset("Swagger UI's style (swagger-ui-dist)", "text/css"),
				packageFile("swagger-ui-dist/swagger-ui.css", "text/css; charset=utf-8")
			),
			[`GET ${DOCS_PATH}/swagger-ui-bundle.js`]: documented(
				asset("Swagger UI (swagger-ui-dist)", "text/javascript"),
				packageFile("swagger-ui-dist/swagger-ui-bundle.js", "text/javascript; charset=utf-8")
			)
		}
	}
];

/** The gateway's document, built when first asked for and again after the services changed. */
export function OpenApiMixin(): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema> & ThisType<Gateway> = {
		events: {
			"$services.changed"() {
				this.openapi.json = null;
			}
		},
		methods: {
			openapiDocument(this: Gateway) {
				try {
					return buildDocument(describeGateway(this));
				} catch (err) {
					if (err instanceof MissingActions) throw new Errors.MoleculerRetryableError(err.message, 503, "SERVICE_NOT_AVAILABLE", { actions: err.actions });
					throw err;
				}
			},
			openapiDocumentJson(this: Gateway) {
				return (this.openapi.json ??= JSON.stringify(this.openapiDocument()));
			}
		},
		created() {
			this.openapi = { json: null };
		}
	};
	return schema;
}
