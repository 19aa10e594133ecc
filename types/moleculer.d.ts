import "moleculer";
import "moleculer-web";
import type { ActionDoc, RouteDoc } from "../lib/openapi/document";

declare module "moleculer" {
	/** A subscription of the @moleculer/channels middleware. */
	interface ChannelSchema<TThis> {
		group?: string;
		maxInFlight?: number;
		maxRetries?: number;
		context?: boolean;
		deadLettering?: Record<string, unknown>;
		handler(this: TThis, payload: unknown, raw?: unknown): Promise<void> | void;
	}

	/** Schema properties added by our middlewares and mixins. */
	// a merged declaration repeats the original's type parameters, used or not
	// eslint-disable-next-line @typescript-eslint/no-unused-vars
	interface ServiceSchema<TSettings, TMethods, TVars, TThis> {
		channels?: Record<string, ChannelSchema<TThis>>;
		/** Called once the mixins are merged (moleculer-db reads `adapter` from the merged schema). */
		merged?(schema: ServiceSchema): void;
		adapter?: unknown;
	}

	interface ActionSchema {
		/** Per-action override of the broker's `requestTimeout` (0 = none). */
		timeout?: number;
		/** How the action appears in the OpenAPI document when an alias leads to it (lib/openapi/document.ts). */
		openapi?: ActionDoc;
	}

	interface ServiceBroker {
		/** Added by the @moleculer/channels middleware. */
		sendToChannel(channelName: string, payload: unknown, opts?: Record<string, unknown>): Promise<void>;
	}
}

declare module "moleculer-web" {
	interface ApiRouteSchema {
		/** Route-level facts for the OpenAPI document (lib/openapi/document.ts). */
		openapi?: RouteDoc;
	}
}
