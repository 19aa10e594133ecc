import { createBroker } from "./broker";
async function main() {
	const cacher = process.env.CACHER === "1";
	const broker = await createBroker(["pilot", "db"] as never, { logger: false, ...(cacher ? {} : { cacher: null as never }) });
	await broker.start();
	for (let i = 0; i < 20; i++) await broker.call("pilot.create", { title: `Movie ${i}`, year: 2000 });
	const N = 50_000;
	const fn = () => broker.call("pilot.list", {});
	for (let i = 0; i < 5_000; i++) await fn();
	const t0 = process.cpuUsage();
	for (let i = 0; i < N; i++) await fn();
	const t1 = process.cpuUsage(t0);
	console.log(`cacher=${cacher} pilot.list`, ((t1.user + t1.system) / N).toFixed(2), "µs cpu/call");
	await broker.stop();
}
main();
