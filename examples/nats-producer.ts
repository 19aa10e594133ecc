/**
 * A field producer as the original lab had it: a plain NATS client (no Moleculer) publishing the
 * seed format on subject `trash-level`. trashReport ingests it from the JetStream stream.
 *
 *   npx tsx examples/nats-producer.ts [--url nats://127.0.0.1:4222] [--subject trash-level] [--can 333] [--level 30.65] [--count 1]
 *
 * Core NATS publish is fire-and-forget (as in the lab); `--confirm` publishes through JetStream
 * and waits for the stream's ack, which is what makes a report durable from the producer's side.
 */
import { parseArgs } from "node:util";
import { connect, StringCodec } from "nats";

const { values: args } = parseArgs({
	options: {
		url: { type: "string", default: process.env.NATS_URL ?? "nats://127.0.0.1:4222" },
		subject: { type: "string", default: "trash-level" },
		can: { type: "string", default: "333" },
		level: { type: "string" },
		count: { type: "string", default: "1" },
		raw: { type: "string" },
		confirm: { type: "boolean", default: false }
	}
});

async function main() {
	const nc = await connect({ servers: args.url });
	const sc = StringCodec();
	const js = nc.jetstream();
	for (let i = 0; i < Number(args.count); i++) {
		const level = args.level ?? (Math.random() * 100).toFixed(2);
		const body = args.raw ?? JSON.stringify({ can_id: args.can, level });
		if (args.confirm) await js.publish(args.subject!, sc.encode(body));
		else nc.publish(args.subject!, sc.encode(body));
	}
	await nc.flush();
	await nc.close();
	console.log(`published ${args.count} report(s) on ${args.subject}`);
}

main().catch(err => {
	console.error(err instanceof Error ? err.message : err);
	process.exit(1);
});
