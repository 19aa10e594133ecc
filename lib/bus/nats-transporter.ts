import { Transporters } from "moleculer";

/**
 * Moleculer's NATS transporter, with the packets sent during one turn of the event loop written to
 * the socket together. nats.js flushes once per microtask checkpoint, and under load every packet
 * cost one `write` syscall (the largest self-time item in the bench's profiles). Publishing what
 * was queued at `setImmediate` keeps the order and makes one write per loop turn
 * (docs/benchmarks.md).
 */
export class CoalescingNatsTransporter extends Transporters.NATS {
	private outbox: [string, Buffer][] = [];

	/**
	 * Leaving the action and event queues (on every change of the local services, and first thing in
	 * broker.stop(), before the services stop): Moleculer unsubscribes, which drops what the server
	 * had already routed to this node and the client had not dispatched yet — a request lost, its
	 * caller timing out (a 503 under load in test/integration/shutdown.spec.ts). Draining handles
	 * those messages first, and the server routes new ones to the queues' other members.
	 */
	override unsubscribeFromBalancedCommands(): Promise<void> {
		const self = this as unknown as { subscriptions: { drain(): Promise<void> }[]; client?: { flush(): Promise<void> } };
		const subscriptions = self.subscriptions;
		self.subscriptions = [];
		// a subscription or connection already closed has nothing left to deliver
		return Promise.all(subscriptions.map(sub => sub.drain().catch(() => undefined))).then(() => self.client?.flush());
	}

	override send(topic: string, data: Buffer): Promise<void> {
		const client = (this as unknown as { client?: { publish(topic: string, data: Buffer): void; isClosed(): boolean } }).client;
		if (!client) return Promise.resolve();
		// a closed connection fails the send at once, as the stock transporter does
		if (client.isClosed()) return Promise.reject(new Error("NATS connection is closed"));
		if (this.outbox.push([topic, data]) === 1) setImmediate(() => this.flushOutbox());
		return Promise.resolve();
	}

	/** Resolves once the server has every packet sent before (a PING's PONG follows them); see `flushed` in lib/bus. */
	flush(): Promise<void> {
		this.flushOutbox();
		const client = (this as unknown as { client?: { flush(): Promise<void> } }).client;
		return client ? client.flush() : Promise.resolve();
	}

	/** What is queued goes out before the connection closes: the DISCONNECT packet among it, so the others see a goodbye, not a silence. */
	override disconnect(): Promise<void> {
		this.flushOutbox();
		return super.disconnect();
	}

	private flushOutbox(): void {
		const packets = this.outbox;
		this.outbox = [];
		const client = (this as unknown as { client?: { publish(topic: string, data: Buffer): void } }).client;
		for (const [topic, data] of packets) {
			try {
				client?.publish(topic, data);
			} catch (err) {
				// the connection closed meanwhile: like a packet lost on the wire, the caller's timeout and retry policy handle it
				this.logger.warn(`NATS publish to ${topic} failed: ${(err as Error).message}`);
			}
		}
	}
}
