/** jest `globalTeardown`: stops the servers global-setup.ts started (and removes their temp dirs). */
import { takeGlobalServers } from "./global-setup";

export default async function globalTeardown(): Promise<void> {
	await Promise.all(takeGlobalServers().map(s => s.stop()));
}
