import { Transporters } from "moleculer";

/**
 * Moleculer's AMQP transporter, with `send` failing through its promise: amqplib throws
 * "Channel closing" synchronously once the channel closes, and a heartbeat sent during
 * `broker.stop()` then threw uncaught inside a timer. Transit handles a rejected send.
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
