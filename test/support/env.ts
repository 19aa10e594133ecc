/**
 * Runs before each test file's imports (jest `setupFiles`): every file gets its own NeDB data
 * dir, no fixed ports, no background simulator and quiet logs, unless a test says otherwise.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

process.env.DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "trash-bus-test-"));
process.env.PORT ??= "0";
process.env.METRICS ??= "false";
process.env.SIM_AUTOSTART ??= "false";
process.env.LOG_LEVEL ??= "error";
// Load tests send far more than one client may; api-hardening.spec.ts turns the limit on.
process.env.RATE_LIMIT ??= "0";
