import { Transporters, Utils } from "moleculer";
import type { Channel, Replies } from "amqplib";
import type { Socket } from "node:net";

/** What the stock subscribe methods really return (typed `Promise<void>`): the consumer, when there is a channel. */
type Consumed = Promise<Replies.Consume | undefined> | undefined;
type EventPacket = { payload: { event: string } };
/** amqplib's (untyped) frame multiplexer: it writes its channels' frames to the socket at `setImmediate`, one `write` per frame. */
interface Muxer {
	out: Socket;
	_readIncoming(): void;
}
/** What `amqplib.connect` resolves with (a ChannelModel), as far as `writeFramesTogether` needs it. */
export type AmqpConnection = { connection?: { muxer?: Muxer } } | null | undefined;

/**
 * Makes amqplib write the frames queued on `model`'s channels in one turn of the event loop with
 * one socket write: its multiplexer writes one frame per `write`, so under load every message,
 * reply and ack cost a syscall. The socket is corked while the multiplexer writes what is queued.
 * A no-op when amqplib's internals are not as expected (package.json pins amqplib's minor).
 */
export function writeFramesTogether(model: AmqpConnection): void {
	const muxer = model?.connection?.muxer;
	if (!muxer || typeof muxer._readIncoming !== "function" || typeof muxer.out?.cork !== "function") return;
	const readIncoming = muxer._readIncoming;
	// (on the instance: the muxer's 'drain' handler calls it through `this` too)
	muxer._readIncoming = function (this: Muxer) {
		this.out.cork();
		try {
			readIncoming.call(this);
		} finally {
			this.out.uncork();
		}
	};
}
type AmqpBase = new (opts: object) => InstanceType<typeof Transporters.AMQP> & {
	connection: AmqpConnection;
	onConnected(wasReconnect: boolean): Promise<void>;
	channel: Channel | null;
	prefix: string;
	broker: { registry: { events: { events: { name: string; group: string }[] } } };
	serialize(packet: EventPacket): Buffer;
};

/**
 * Moleculer's AMQP transporter, with these fixes:
 *  - `send` fails through its promise: amqplib throws "Channel closing" synchronously once the
 *    channel closes, and a heartbeat sent during `broker.stop()` then threw uncaught in a timer;
 *  - with the broker's balancer off, the balanced queues' consumers are cancelled when the broker
 *    asks (`unsubscribeFromBalancedCommands`, a no-op in the stock class): a stopping node then
 *    takes no more requests, and a node whose services change does not pile up a second consumer
 *    on every queue;
 *  - and an emitted event reaches a group that subscribed with a wildcard (`movie.*`): its queue
 *    is named after the pattern, while the stock class sent to one named after the event, which
 *    nobody consumes;
 *  - the frames written in one turn of the event loop go to the socket together
 *    (`writeFramesTogether`): every request and every reply cost one `write` syscall under load,
 *    as nats.js's did per packet before CoalescingNatsTransporter.
 */
export class AmqpTransporter extends (Transporters.AMQP as unknown as AmqpBase) {
	private balancedConsumers: { channel: Channel; consumerTag: string }[] = [];

	override onConnected(wasReconnect: boolean): Promise<void> {
		writeFramesTogether(this.connection);
		return super.onConnected(wasReconnect);
	}

	override send(topic: string, data: Buffer, meta: object): Promise<void> {
		try {
			return super.send(topic, data, meta as never);
		} catch (err) {
			return Promise.reject(err);
		}
	}

	/**
	 * Resolves once RabbitMQ has taken every message sent before: a passive declare of `amq.direct`
	 * (which every vhost has) on the publishing channel, whose reply comes after the channel's
	 * earlier publishes are routed. Waiting for the socket alone is not enough: a killed process's
	 * socket is reset when it still holds unread deliveries, and the kernel then drops what it had
	 * not sent yet (2 of ~420 alerts in one burst run). See `flushed` in lib/bus.
	 */
	async flush(): Promise<void> {
		await this.channel?.checkExchange("amq.direct");
	}

	override subscribeBalancedRequest(action: string): Promise<void> {
		return this.track(super.subscribeBalancedRequest(action) as Consumed);
	}

	override subscribeBalancedEvent(event: string, group: string): Promise<void> {
		return this.track(super.subscribeBalancedEvent(event, group) as Consumed);
	}

	override async unsubscribeFromBalancedCommands(): Promise<void> {
		const consumers = this.balancedConsumers;
		this.balancedConsumers = [];
		// a consumer of a channel that has closed since is gone already
		await Promise.all(consumers.filter(c => c.channel === this.channel).map(c => c.channel.cancel(c.consumerTag).catch(() => undefined)));
	}

	override publishBalancedEvent(packet: EventPacket, group: string): Promise<void> {
		const { event } = packet.payload;
		const patterns = this.broker.registry.events.events.filter(list => list.group === group && Utils.match(event, list.name)).map(list => list.name);
		// one queue per group: its handlers of every matching pattern run for the one message
		const queue = patterns.includes(event) ? event : (patterns[0] ?? event);
		return this.send(`${this.prefix}.EVENTB.${group}.${queue}`, this.serialize(packet), { packet, balanced: true } as never);
	}

	private async track(consumed: Consumed): Promise<void> {
		const channel = this.channel;
		const reply = await consumed;
		if (reply && channel) this.balancedConsumers.push({ channel, consumerTag: reply.consumerTag });
	}
}
