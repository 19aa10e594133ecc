/**
 * `npm run dev`: moleculer-runner with hot reload and the REPL, on the services named in
 * `SERVICES` (all six by default). The runner reads `SERVICES` itself as file names, which
 * does not fit TypeScript sources, so this passes it the files and hides the variable.
 */
import path from "node:path";
import { config } from "../lib/config";

const files = config.services.map(name => `services/${name}.service.ts`);
delete process.env.SERVICES;
process.argv = [process.argv[0], "moleculer-runner", "--hot", "--repl", "--config", "moleculer.config.ts", ...files];
// not in moleculer's package exports, so by path
void import(path.join(path.dirname(require.resolve("moleculer")), "bin/moleculer-runner.js"));
