import type { Server } from "node:http";
import type { Middleware, ServiceBroker } from "moleculer";

/** How long the last responses get to leave the socket once every request is answered. */
const FLUSH_MS = 2_000;

/**
 * SIGTERM on a gateway: stop taking connections at once, then finish what was taken.
 *
 * Left to itself, Moleculer first waits for running contexts (the context tracker, at broker
 * and then service level) and only then lets moleculer-web's `stopped` close the server; until
 * then the port stays open and new requests keep coming in, so under a steady load the wait
 * lasts the whole shutdownTimeout, and requests still running when the transporter disconnects
 * fail. Here the listener closes as the very first step of `broker.stop()` (idle keep-alive
 * connections with it); requests in progress run to the end while the tracker waits for them,
 * and the stop waits until their connections are closed.
 */
export function GracefulHttpMiddleware(): Middleware {
	let servers: Server[] = [];
	let closing: Promise<void>[] = [];
	return {
		name: "GracefulHttp",

		created(broker: ServiceBroker) {
			// No middleware hook runs before the tracker's waits: wrap stop() itself.
			const stop = broker.stop.bind(broker);
			broker.stop = () => {
				servers = broker.services.map(svc => (svc as unknown as { server?: Server }).server).filter((server): server is Server => server?.listening === true);
				closing = servers.map(server => new Promise<void>(resolve => server.close(() => resolve())));
				return stop();
			};
		},

		async stopped() {
			// every request is answered by now: keep-alive connections that went idle since can go
			for (const server of servers) server.closeIdleConnections();
			let timer: NodeJS.Timeout | undefined;
			await Promise.race([Promise.all(closing), new Promise(resolve => (timer = setTimeout(resolve, FLUSH_MS)))]);
			clearTimeout(timer);
		}
	} as unknown as Middleware;
}
