// ESLint (flat config): typescript-eslint's recommended rules on every TypeScript file, browser
// globals for the dashboard's plain scripts; formatting is Prettier's job (eslint-config-prettier).
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
	// test/support/openapi-types.ts is generated (npm run openapi)
	{ ignores: ["dist/", "data/", "coverage/", "node_modules/", "test/support/openapi-types.ts"] },
	js.configs.recommended,
	tseslint.configs.recommended,
	{
		languageOptions: { globals: globals.node },
		rules: {
			// `_`-prefixed arguments are kept for a signature's sake (moleculer-web hooks, middlewares)
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }]
		}
	},
	{
		// tests read JSON bodies and YAML manifests whose shape is what they assert
		files: ["test/**/*.ts", "harness/**/*.ts"],
		rules: { "@typescript-eslint/no-explicit-any": "off" }
	},
	{
		files: ["public/**/*.js"],
		languageOptions: { globals: { ...globals.browser, uPlot: "readonly", L: "readonly" }, sourceType: "script" }
	},
	{
		// plain CommonJS scripts that run before anything is compiled (scripts/build.js)
		files: ["*.js", "scripts/**/*.js"],
		languageOptions: { sourceType: "commonjs" },
		rules: { "@typescript-eslint/no-require-imports": "off" }
	},
	prettier
);
