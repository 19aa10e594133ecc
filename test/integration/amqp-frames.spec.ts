/**
 * amqplib writes every frame with a socket write of its own; `writeFramesTogether` (used by the
 * AMQP transporter and the channel adapter) makes the frames queued in one turn of the event loop
 * one write. On a real amqplib connection to the test run's RabbitMQ: it fails when amqplib's
 * internals change under the helper (which would then do nothing), and when a corked frame is lost.
 */
import amqp from "amqplib";
import type { Socket } from "node:net";
import { transporterUrl } from "../../harness/deployment";
import { writeFramesTogether } from "../../lib/bus/amqp-transporter";

const MESSAGES = 200;
type Write = (this: Socket, ...args: unknown[]) => unknown;

/** Socket writes (`_write` or `_writev`: a syscall each) while MESSAGES messages are published in one turn, and what reached the queue. */
async function publishInOneTurn(together: boolean): Promise<{ writes: number; received: string[] }> {
	const model = await amqp.connect(transporterUrl("amqp"));
	try {
		if (together) writeFramesTogether(model as never);
		const ch = await model.createChannel();
		const { queue } = await ch.assertQueue("", { exclusive: true });
		const socket = (model as unknown as { connection: { stream: Socket & { _write: Write; _writev: Write } } }).connection.stream;
		const [write, writev] = [socket._write, socket._writev];
		let writes = 0;
		socket._write = function (this: Socket, ...args: unknown[]) {
			writes++;
			return write.apply(this, args);
		};
		socket._writev = function (this: Socket, ...args: unknown[]) {
			writes++;
			return writev.apply(this, args);
		};
		for (let i = 0; i < MESSAGES; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
		// a round trip on the same channel: its reply comes after the publishes are routed
		await ch.checkQueue(queue);
		const counted = writes;
		[socket._write, socket._writev] = [write, writev];
		const received: string[] = [];
		for (let msg = await ch.get(queue, { noAck: true }); msg; msg = await ch.get(queue, { noAck: true })) received.push(msg.content.toString());
		return { writes: counted, received };
	} finally {
		await model.close();
	}
}

it("publishes the frames of one turn with a few socket writes instead of one each, every message in order", async () => {
	const apart = await publishInOneTurn(false);
	const together = await publishInOneTurn(true);
	const sent = Array.from({ length: MESSAGES }, (_, i) => String(i));
	expect(apart.received).toEqual(sent);
	expect(together.received).toEqual(sent);
	// amqplib as it comes: a write per message (and the round trip's)
	expect(apart.writes).toBeGreaterThanOrEqual(MESSAGES);
	// together: a write per turn, or per socket buffer's worth while RabbitMQ reads
	expect(together.writes).toBeLessThan(10);
});
