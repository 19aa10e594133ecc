/** @type {import('jest').Config} */
module.exports = {
	testEnvironment: "node",
	roots: ["<rootDir>/test"],
	testMatch: ["**/*.spec.ts"],
	// Type checking is `npm run typecheck`'s job; tests only transpile (much faster).
	transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
	setupFiles: ["<rootDir>/test/support/env.ts"],
	// Real NATS (JetStream), RabbitMQ and PostgreSQL for the whole run, on free loopback ports.
	globalSetup: "<rootDir>/test/support/global-setup.ts",
	globalTeardown: "<rootDir>/test/support/global-teardown.ts",
	testTimeout: 30_000
};
