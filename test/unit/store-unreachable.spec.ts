/**
 * isStoreUnreachable tells "the store could not be reached" (answered 503 STORE_UNAVAILABLE, and
 * the health test's subject) from "the store refused what was asked", which stays the action's own error.
 */
import { isStoreUnreachable } from "../../lib/store";

const named = (name: string, extra: object = {}) => Object.assign(new Error("x"), { name }, extra);

it.each([
	["Sequelize's connection refused", named("SequelizeConnectionRefusedError")],
	["Sequelize's pool timing out", named("SequelizeConnectionAcquireTimeoutError")],
	["Sequelize's host not found", named("SequelizeHostNotFoundError")],
	["PostgreSQL shutting down (57P01)", named("SequelizeDatabaseError", { parent: { code: "57P01" } })],
	["PostgreSQL starting up (57P03)", named("SequelizeDatabaseError", { parent: { code: "57P03" } })],
	["a connection exception (08006)", named("SequelizeDatabaseError", { parent: { code: "08006" } })],
	["a socket reset", Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })],
	["pg losing the connection mid-query", named("SequelizeDatabaseError", { parent: { message: "Connection terminated unexpectedly" } })]
])("unreachable: %s", (_what, err) => expect(isStoreUnreachable(err)).toBe(true));

it.each([
	["a unique violation (23505)", named("SequelizeUniqueConstraintError", { parent: { code: "23505" } })],
	["a syntax error (42601)", named("SequelizeDatabaseError", { parent: { code: "42601" } })],
	["a client error", Object.assign(new Error("Can '1' has not reported."), { code: 404, type: "CAN_NOT_FOUND" })],
	["a plain error", new Error("boom")],
	["no error at all", null]
])("not unreachable: %s", (_what, err) => expect(isStoreUnreachable(err)).toBe(false));
