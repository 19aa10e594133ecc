/**
 * Row 8a's microservice: a NestJS microservice on the NATS transport whose `levels` message
 * pattern answers the latest level of every can, sorted by canId, from memory — the same JSON as
 * our GET /levels, which bench/run.ts writes to `<levels.json>` after seeding our side.
 *
 *   node bench/peer/levels-service.mjs <nats url> <levels.json>
 *
 * Sends "listening" on the IPC channel once subscribed. Nest logs errors and warnings only.
 */
import "reflect-metadata";
import fs from "node:fs";
import { Controller, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { MessagePattern, Transport } from "@nestjs/microservices";
import { decorateClass, decorateMethod } from "./decorate.mjs";

const [natsUrl, file] = process.argv.slice(2);
const byCanId = new Intl.Collator("en", { numeric: true }).compare;
/** The store in memory: sorted once, as our trashReport keeps its sorted list until a report changes it. */
const levels = JSON.parse(fs.readFileSync(file, "utf8")).sort((a, b) => byCanId(a.canId, b.canId));

class LevelsController {
	/** The latest level of every can, sorted by canId. */
	levels() {
		return levels;
	}
}
decorateMethod(LevelsController, "levels", MessagePattern("levels"));
decorateClass(LevelsController, Controller());

class LevelsModule {}
decorateClass(LevelsModule, Module({ controllers: [LevelsController] }));

const app = await NestFactory.createMicroservice(LevelsModule, {
	transport: Transport.NATS,
	options: { servers: [natsUrl] },
	logger: ["error", "warn"]
});
await app.listen();
process.send?.("listening");
// a bench that dies leaves no server behind: its IPC channel closes with it
process.once("disconnect", () => process.exit(0));
