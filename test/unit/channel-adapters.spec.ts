/**
 * Our channel adapters keep the package's account of the messages in flight (what a stopping
 * consumer waits for) in a map instead of an array: the same answers for the same calls.
 */
import { Adapters } from "@moleculer/channels";
import { AmqpChannelAdapter, NatsChannelAdapter } from "../../lib/bus/channel-adapters";
import { seededRandom } from "../support/random";

interface Tracking {
	initChannelActiveMessages(channelId: string, toThrow?: boolean): void;
	stopChannelActiveMessages(channelId: string): void;
	addChannelActiveMessages(channelId: string, ids: number[]): void;
	removeChannelActiveMessages(channelId: string, ids: number[]): void;
	getNumberOfChannelActiveMessages(channelId: string): number;
	getNumberOfTrackedChannels(): number;
}
const adapter = (Class: unknown) => new (Class as new (opts: object) => Tracking)({});
const outcome = (f: () => unknown) => {
	try {
		return f();
	} catch (err) {
		return `throws ${(err as Error).message}`;
	}
};

describe.each([
	["NATS", NatsChannelAdapter, (Adapters as unknown as Record<string, unknown>).NATS],
	["AMQP", AmqpChannelAdapter, (Adapters as unknown as Record<string, unknown>).AMQP]
])("the %s adapter", (_, Ours, Package) => {
	it("answers every call of a random run as the package's adapter does, an id in flight twice (a redelivery) included", () => {
		const [ours, theirs] = [adapter(Ours), adapter(Package)];
		const random = seededRandom(7);
		const pick = (n: number) => Math.floor(random() * n);
		let stops = 0;
		for (let step = 0; step < 5_000; step++) {
			const channel = `c${pick(3)}`;
			const ids = Array.from({ length: 1 + pick(3) }, () => pick(8));
			const calls = [
				(a: Tracking) => a.initChannelActiveMessages(channel, step % 2 === 0),
				(a: Tracking) => a.addChannelActiveMessages(channel, ids),
				(a: Tracking) => a.removeChannelActiveMessages(channel, ids),
				(a: Tracking) => a.stopChannelActiveMessages(channel),
				(a: Tracking) => a.removeChannelActiveMessages(channel, ids)
			];
			const call = calls[pick(calls.length)];
			const answer = outcome(() => call(theirs));
			expect(outcome(() => call(ours))).toEqual(answer);
			if (call === calls[3] && answer === undefined) stops++;
			expect(ours.getNumberOfChannelActiveMessages(channel)).toBe(theirs.getNumberOfChannelActiveMessages(channel));
			expect(ours.getNumberOfTrackedChannels()).toBe(theirs.getNumberOfTrackedChannels());
		}
		// the run reached the interesting states: channels stopped once empty
		expect(stops).toBeGreaterThan(10);
	});
});
