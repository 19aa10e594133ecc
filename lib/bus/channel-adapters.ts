/**
 * Small fixes on top of @moleculer/channels 0.1.8 for the `trash-level` channel, each a subclass,
 * not a fork, saying what it fixes. They override the package's internals, so package.json pins
 * exactly that version.
 */
import { Adapters } from "@moleculer/channels";
import type { ConfirmChannel, Options } from "amqplib";
import { Errors } from "moleculer";
import type { Logger } from "moleculer";
import { retrying, RETRIES } from "../retry";
import { writeFramesTogether } from "./amqp-transporter";
import type { AmqpConnection } from "./amqp-transporter";

/** The members of the package's (untyped) adapter classes that these subclasses use. */
interface AdapterBase {
	logger: Logger;
	connected: boolean;
	stopping: boolean;
	serializer: { serialize(payload: unknown): Buffer };
	checkClientLibVersion(library: string, versions: string): boolean;
	stopChannelActiveMessages(channelId: string): void;
}
type AmqpMessage = { properties: { headers?: object } };
interface AmqpAdapterBase extends AdapterBase {
	connection: { createConfirmChannel(): Promise<ConfirmChannel> } & AmqpConnection;
	opts: { amqp: { exchangeOptions?: Options.AssertExchange; messageOptions?: Options.Publish } };
	tryConnect(): Promise<void>;
	createConsumerHandler(chan: object): (msg: AmqpMessage | null) => Promise<void>;
}
type JsMessage = { working(): void };
interface NatsAdapterBase extends AdapterBase {
	subscribe(chan: object, svc: object): Promise<void>;
	createConsumerHandler(chan: object): (err: Error | null, msg: JsMessage | null) => Promise<void>;
}
const { AMQP: AmqpAdapter, NATS: NatsAdapter } = Adapters as unknown as {
	AMQP: new (opts: object) => AmqpAdapterBase;
	NATS: new (opts: object) => NatsAdapterBase;
};

/** What is being processed of one channel: each message id, how many times (a redelivery may overlap). */
interface Active {
	ids: Map<string | number, number>;
	size: number;
}
const tracked = (active: Map<string, Active>, channelId: string) => {
	const list = active.get(channelId);
	if (!list) throw new Errors.MoleculerError(`Not tracking active messages of channel ${channelId}`);
	return list;
};

/**
 * Both adapters, tracking the messages in flight in a map instead of an array: the package finds
 * and splices each finished message's id out of an array of everything in flight, which with
 * 2 048 in flight was 3 % of a consumer's CPU (bench/profile.ts). The same contract otherwise.
 */
function withIndexedActiveMessages<B extends AdapterBase>(Base: new (opts: object) => B): new (opts: object) => B {
	return class extends (Base as new (opts: object) => AdapterBase) {
		readonly inFlight = new Map<string, Active>();

		initChannelActiveMessages(channelId: string, toThrow = true): void {
			if (!this.inFlight.has(channelId)) this.inFlight.set(channelId, { ids: new Map(), size: 0 });
			else if (toThrow) throw new Errors.MoleculerError(`Already tracking active messages of channel ${channelId}`);
		}

		override stopChannelActiveMessages(channelId: string): void {
			const { size } = tracked(this.inFlight, channelId);
			if (size !== 0)
				throw new Errors.MoleculerError(`Can't stop tracking active messages of channel ${channelId}. It still has ${size} messages being processed.`);
			this.inFlight.delete(channelId);
		}

		addChannelActiveMessages(channelId: string, ids: (string | number)[]): void {
			const list = tracked(this.inFlight, channelId);
			for (const id of ids) list.ids.set(id, (list.ids.get(id) ?? 0) + 1);
			list.size += ids.length;
		}

		removeChannelActiveMessages(channelId: string, ids: (string | number)[]): void {
			const list = tracked(this.inFlight, channelId);
			for (const id of ids) {
				const n = list.ids.get(id);
				if (n == null) continue;
				if (n > 1) list.ids.set(id, n - 1);
				else list.ids.delete(id);
				list.size--;
			}
		}

		getNumberOfChannelActiveMessages(channelId: string): number {
			return this.inFlight.get(channelId)?.size ?? 0;
		}

		getNumberOfTrackedChannels(): number {
			return this.inFlight.size;
		}
	} as unknown as new (opts: object) => B;
}
const AmqpBase = withIndexedActiveMessages(AmqpAdapter);
const NatsBase = withIndexedActiveMessages(NatsAdapter);

/**
 * The AMQP adapter with four fixes:
 *  - it warns that amqplib 0.10 is unsupported (it lists ^0.8 || ^0.9); 0.10 is what Moleculer's
 *    own AMQP transporter requires and the API the adapter uses is unchanged, so the check passes;
 *  - a message without headers (any plain amqplib producer) crashed the consumer when its handler
 *    failed (`msg.properties.headers[...]` of undefined): give every message a headers object;
 *  - publishing threw "Write buffer is full" under a burst although amqplib had queued the message,
 *    and nothing told the publisher that RabbitMQ had the message. Publish on a confirm channel
 *    instead: `sendToChannel` resolves when RabbitMQ confirms, and waits while the buffer is full.
 *    The exchange is asserted once first, so publishing before any consumer exists is no channel error;
 *  - amqplib wrote each ack, and each message published, with a socket write of its own: the frames
 *    of one turn of the event loop now go together (`writeFramesTogether`, as the transporter's).
 */
export class AmqpChannelAdapter extends AmqpBase {
	private confirmChannel?: ConfirmChannel;
	private readonly publishExchanges = new Set<string>();

	override async tryConnect(): Promise<void> {
		await super.tryConnect();
		writeFramesTogether(this.connection);
		this.publishExchanges.clear();
		this.confirmChannel = await this.connection.createConfirmChannel();
		// errors close the channel; the connection's own handling reconnects and calls tryConnect again
		this.confirmChannel.on("error", (err: Error) => this.logger.warn("AMQP publish channel error:", err.message));
	}

	async publish(channelName: string, payload: unknown, opts: { raw?: boolean; headers?: object; routingKey?: string } = {}): Promise<void> {
		if (this.stopping) return;
		if (!this.connected || !this.confirmChannel) throw new Errors.MoleculerRetryableError("Adapter not yet connected. Skipping publishing.");
		const ch = this.confirmChannel;
		if (!this.publishExchanges.has(channelName)) {
			await ch.assertExchange(channelName, "fanout", this.opts.amqp.exchangeOptions);
			this.publishExchanges.add(channelName);
		}
		const data = opts.raw ? (payload as Buffer) : this.serializer.serialize(payload);
		const options = { ...this.opts.amqp.messageOptions, ...(opts.headers ? { headers: opts.headers } : {}) };
		await new Promise<void>((resolve, reject) => {
			ch.publish(channelName, opts.routingKey ?? "", data, options, (err: Error | null) => (err ? reject(err) : resolve()));
		});
	}

	override checkClientLibVersion(library: string, versions: string): boolean {
		return library === "amqplib" ? true : super.checkClientLibVersion(library, versions);
	}

	override createConsumerHandler(chan: object) {
		const handle = super.createConsumerHandler(chan);
		return async (msg: AmqpMessage | null) => {
			// null: the queue was deleted under the consumer; nothing to handle
			if (!msg) return;
			msg.properties.headers ??= {};
			return handle(msg);
		};
	}
}

/** JetStream's answer when a durable consumer was created by another client a moment earlier. */
const CONSUMER_NAME_IN_USE = 10013;

/**
 * The NATS adapter with two fixes:
 *  - replicas that start together each create the group's durable consumer with its own deliver
 *    subject, and the loser of that race was refused ("consumer name already in use") and failed to
 *    start. A second try finds the consumer and binds to it as a queue member;
 *  - it sent a "working" (+WPI) message to JetStream for every message it received, before
 *    handling it: one more publish per report, for the server to process, when the report is acked
 *    milliseconds later, well within the ack wait (30 s). The handler says "working" itself when it
 *    does take long (trashReport retries the store), so the adapter's first one is dropped.
 */
export class NatsChannelAdapter extends NatsBase {
	override createConsumerHandler(chan: object) {
		const handle = super.createConsumerHandler(chan);
		return (err: Error | null, msg: JsMessage | null) => {
			if (msg) {
				const working = msg.working;
				// the adapter's call, right on receipt: a no-op that puts the real one back
				msg.working = () => void (msg.working = working);
			}
			return handle(err, msg);
		};
	}

	override async subscribe(chan: { id: string }, svc: object): Promise<void> {
		await retrying(RETRIES.subscribe, () => super.subscribe(chan, svc), {
			shouldRetry: err => (err as { api_error?: { err_code?: number } }).api_error?.err_code === CONSUMER_NAME_IN_USE,
			onRetry: (_err, attempt) => {
				this.logger.info(`Another replica created the consumer of '${chan.id}' meanwhile; binding to it (retry ${attempt})`);
				this.stopChannelActiveMessages(chan.id);
			}
		});
	}
}
