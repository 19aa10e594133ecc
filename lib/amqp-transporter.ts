import { Transporters } from "moleculer";

/**
 * Moleculer's AMQP transporter, with `send` failing through its promise instead of throwing.
 *
 * amqplib throws synchronously ("Channel closing") from `publish` once the channel is closing,
 * and the stock `send` lets it escape: a heartbeat or an INFO sent during `broker.stop()` (or while
 * RabbitMQ goes away) then threw inside a timer, an uncaught exception that fails a jest suite
 * and would kill a process that treats those as fatal. As a rejected promise it reaches the
 * callers' own error handling (transit logs a failed heartbeat; a request fails and is retried).
 */
export class AmqpTransporter extends Transporters.AMQP {
	override send(topic: string, data: Buffer, meta: object): Promise<void> {
		try {
			return super.send(topic, data, meta as never);
		} catch (err) {
			return Promise.reject(err);
		}
	}
}
