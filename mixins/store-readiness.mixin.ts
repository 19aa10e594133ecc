import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { isStoreUnreachable } from "../lib/store";

/**
 * The store's availability as callers see it:
 *  - the `checkStore` action the gateway's readiness probe calls (`GET /health/ready`): it answers
 *    when the service's `checkStore` method (given by the store mixins) could reach every table;
 *  - an action that failed because the store could not be reached at all answers 503
 *    STORE_UNAVAILABLE ("try again later"), not the driver's error: that was a 500 naming
 *    Sequelize and the database's address (test/integration/health.spec.ts).
 */
const schema: Omit<ServiceSchema<ServiceSettingSchema, { checkStore(): Promise<void> }>, "name"> = {
	hooks: {
		error: {
			"*"(this: { logger: { debug(...args: unknown[]): void } }, ctx: Context, err: Error) {
				if (!isStoreUnreachable(err)) throw err;
				this.logger.debug(`${ctx.action?.name ?? "An action"}: the store does not answer:`, err.message);
				throw new Errors.MoleculerError("The store does not answer", 503, "STORE_UNAVAILABLE");
			}
		}
	},
	actions: {
		checkStore: {
			visibility: "public",
			params: {},
			async handler(): Promise<{ ok: true }> {
				await this.checkStore();
				return { ok: true };
			}
		}
	}
};

export const StoreReadinessMixin = schema as unknown as Partial<ServiceSchema>;
