import { createHash, randomUUID } from "node:crypto";

/** What the bus says about a report, for producers that say nothing themselves. */
export interface BusIdentity {
	id: string;
	reportedAt: string;
}

/**
 * The id and report time of a report that carries neither (a plain producer's seed format):
 * from the bus message, so a redelivery gets the same id and changes nothing.
 *  - JetStream: the stream name and sequence, and the time the stream stored it;
 *  - RabbitMQ has no sequence: a digest of the body (two byte-identical reports are one), and the
 *    message's timestamp property when the producer set one;
 *  - in memory (no redelivery): a fresh id and now.
 */
export function busIdentity(raw: unknown, now = new Date()): BusIdentity {
	const msg = raw as {
		seq?: number;
		info?: { stream: string; timestampNanos: number };
		content?: Buffer;
		properties?: { timestamp?: number; messageId?: string };
	} | null;
	if (msg?.info && typeof msg.seq === "number") {
		return { id: `nats:${msg.info.stream}:${msg.seq}`, reportedAt: new Date(Math.floor(msg.info.timestampNanos / 1e6)).toISOString() };
	}
	if (msg?.content instanceof Buffer) {
		const id = msg.properties?.messageId || `amqp:${createHash("sha256").update(msg.content).digest("base64url").slice(0, 32)}`;
		const ts = msg.properties?.timestamp;
		return { id, reportedAt: (typeof ts === "number" ? new Date(ts < 1e12 ? ts * 1000 : ts) : now).toISOString() };
	}
	return { id: randomUUID(), reportedAt: now.toISOString() };
}
