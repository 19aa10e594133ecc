/**
 * Row 8a's gateway: a NestJS HTTP app on @nestjs/platform-fastify whose GET /levels asks the
 * microservice (levels-service.mjs) over NATS through a ClientProxy and answers its reply.
 *
 *   node bench/peer/gateway.mjs <port> <nats url>
 *
 * Sends "listening" on the IPC channel once connected to NATS and listening on 127.0.0.1:<port>.
 * Nest logs errors and warnings only; Fastify's own logger is off (its default).
 */
import "reflect-metadata";
import { Controller, Get, Inject, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ClientsModule, Transport } from "@nestjs/microservices";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { decorateClass, decorateMethod, decorateParam } from "./decorate.mjs";

const [port, natsUrl] = process.argv.slice(2);
/** The injection token of the NATS client. */
const LEVELS_SERVICE = "LEVELS_SERVICE";

class LevelsController {
	constructor(levelsService) {
		this.levelsService = levelsService;
	}

	/** GET /levels: the microservice's answer, as Nest sends an Observable's last value. */
	levels() {
		return this.levelsService.send("levels", {});
	}
}
decorateParam(LevelsController, 0, Inject(LEVELS_SERVICE));
decorateMethod(LevelsController, "levels", Get("levels"));
decorateClass(LevelsController, Controller());

class GatewayModule {}
decorateClass(
	GatewayModule,
	Module({
		imports: [ClientsModule.register([{ name: LEVELS_SERVICE, transport: Transport.NATS, options: { servers: [natsUrl] } }])],
		controllers: [LevelsController]
	})
);

const app = await NestFactory.create(GatewayModule, new FastifyAdapter(), { logger: ["error", "warn"] });
// connect before the first request, so that no measured request waits for it
await app.get(LEVELS_SERVICE).connect();
await app.listen(Number(port), "127.0.0.1");
process.send?.("listening");
// a bench that dies leaves no server behind: its IPC channel closes with it
process.once("disconnect", () => process.exit(0));
