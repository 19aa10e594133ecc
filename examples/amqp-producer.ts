/**
 * A field producer with a plain amqplib client (no Moleculer): publishes the seed format to the
 * fanout exchange `trash-level`, persistent, on a confirm channel so each report is acknowledged
 * by RabbitMQ. trashReport consumes the durable queue bound to that exchange.
 *
 *   npx tsx examples/amqp-producer.ts [--url amqp://guest:guest@127.0.0.1:5672] [--exchange trash-level] [--can 333] [--level 30.65] [--count 1]
 */
import { parseArgs } from "node:util";
import amqp from "amqplib";

const { values: args } = parseArgs({
	options: {
		url: { type: "string", default: process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672" },
		exchange: { type: "string", default: "trash-level" },
		can: { type: "string", default: "333" },
		level: { type: "string" },
		count: { type: "string", default: "1" },
		raw: { type: "string" }
	}
});

async function main() {
	const conn = await amqp.connect(args.url!);
	const channel = await conn.createConfirmChannel();
	for (let i = 0; i < Number(args.count); i++) {
		const level = args.level ?? (Math.random() * 100).toFixed(2);
		const body = args.raw ?? JSON.stringify({ can_id: args.can, level });
		channel.publish(args.exchange!, "", Buffer.from(body), { persistent: true, contentType: "application/json" });
	}
	await channel.waitForConfirms();
	await conn.close();
	console.log(`published ${args.count} report(s) to exchange ${args.exchange}`);
}

main().catch(err => {
	console.error(err instanceof Error ? err.message : err);
	process.exit(1);
});
