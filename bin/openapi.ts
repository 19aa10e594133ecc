/**
 * `npm run openapi`: writes the gateway's OpenAPI document to docs/openapi.json, so that clients
 * can be generated without running the system; `npm run openapi -- --check` only compares, and
 * exits 1 when the file is stale. The document is built as the gateway builds it for
 * GET /openapi.json, from services created but not started: nothing listens, no store is opened.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { createBroker } from "../broker";
import { buildDocument } from "../lib/openapi/document";
import { describeGateway } from "../services/rest/openapi";

export const DOCUMENT_FILE = path.resolve(__dirname, "../docs/openapi.json");

/** The services whose actions the gateway's aliases lead to, and the gateway. */
const DOCUMENTED = ["rest", "pilot", "trashReport", "systemManager"] as const;

/** The document as docs/openapi.json holds it. */
export async function generateDocument(): Promise<string> {
	const broker = await createBroker([...DOCUMENTED], { logger: false, metrics: false }, {}, null);
	const gateway = broker.getLocalService("rest") as unknown as Parameters<typeof describeGateway>[0];
	return `${JSON.stringify(buildDocument(describeGateway(gateway)), null, 2)}\n`;
}

async function main() {
	const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } });
	const document = await generateDocument();
	const current = fs.existsSync(DOCUMENT_FILE) ? fs.readFileSync(DOCUMENT_FILE, "utf8") : null;
	const relative = path.relative(process.cwd(), DOCUMENT_FILE);
	if (values.check) {
		if (current === document) {
			console.log(`${relative} is up to date`);
			return;
		}
		console.error(`${relative} is ${current === null ? "missing" : "stale"}: run npm run openapi`);
		process.exitCode = 1;
		return;
	}
	fs.writeFileSync(DOCUMENT_FILE, document);
	console.log(`${current === document ? "unchanged" : "wrote"} ${relative}`);
}

if (require.main === module)
	main().catch(err => {
		console.error(err instanceof Error ? err.message : err);
		process.exit(1);
	});
