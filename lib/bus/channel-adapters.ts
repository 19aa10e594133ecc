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
	connection: { createConfirmChannel(): Promise<ConfirmChannel> };
	opts: { amqp: { exchangeOptions?: Options.AssertExchange; messageOptions?: Options.Publish } };
	tryConnect(): Promise<void>;
	createConsumerHandler(chan: object): (msg: AmqpMessage | null) => Promise<void>;
}
type JsMessage = { working(): void };
interface NatsAdapterBase extends AdapterBase {
	subscribe(chan: object, svc: object): Promise<void>;
	createConsumerHandler(chan: object): (err: Error | null, msg: JsMessage | null) => Promise<void>;
}
const { AMQP: AmqpBase, NATS: NatsBase } = Adapters as unknown as {
	AMQP: new (opts: object) => AmqpAdapterBase;
	NATS: new (opts: object) => NatsAdapterBase;
};

/**
 * The AMQP adapter with three fixes:
 *  - it warns that amqplib 0.10 is unsupported (it lists ^0.8 || ^0.9); 0.10 is what Moleculer's
 *    own AMQP transporter requires and the API the adapter uses is unchanged, so the check passes;
 *  - a message without headers (any plain amqplib producer) crashed the consumer when its handler
 *    failed (`msg.properties.headers[...]` of undefined): give every message a headers object;
 *  - publishing threw "Write buffer is full" under a burst although amqplib had queued the message,
 *    and nothing told the publisher that RabbitMQ had the message. Publish on a confirm channel
 *    instead: `sendToChannel` resolves when RabbitMQ confirms, and waits while the buffer is full.
 *    The exchange is asserted once first, so publishing before any consumer exists is no channel error.
 */
export class AmqpChannelAdapter extends AmqpBase {
	private confirmChannel?: ConfirmChannel;
	private readonly publishExchanges = new Set<string>();

	override async tryConnect(): Promise<void> {
		await super.tryConnect();
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
