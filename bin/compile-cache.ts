/**
 * V8's compiled code of every module this process loads, kept on disk (os.tmpdir()/node-compile-cache)
 * between starts: imported first by bin/start.ts, so it covers everything after it.
 */
import { enableCompileCache } from "node:module";

enableCompileCache();
