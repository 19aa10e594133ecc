import type { ServiceSchema, ServiceSettingSchema } from "moleculer";

/**
 * The `checkStore` action the gateway's readiness probe calls (`GET /health/ready`): it answers
 * when the service's `checkStore` method (given by the store mixins) could reach every table.
 */
const schema: Omit<ServiceSchema<ServiceSettingSchema, { checkStore(): Promise<void> }>, "name"> = {
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
