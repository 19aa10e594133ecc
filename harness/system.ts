import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { BrokerOptions, ServiceBroker } from "moleculer";
import { createBroker } from "../broker";
import { ALL_SERVICES } from "../lib/config";
import type { ServiceName } from "../lib/config";

export interface HttpReply<T = any> {
	status: number;
	body: T;
	headers: Headers;
}

/** A running system: its broker and a small HTTP client for its gateway. */
export interface System {
	broker: ServiceBroker;
	url: string;
	request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpReply<T>>;
	get<T = any>(path: string): Promise<HttpReply<T>>;
	stop(): Promise<void>;
}

let seq = 0;

/** Starts a real broker with the real services (all six by default) and its gateway on a free port. */
export async function startSystem(
	services: readonly ServiceName[] = ALL_SERVICES,
	overrides: Partial<BrokerOptions> = {},
	settings: Partial<Record<ServiceName, object>> = {}
): Promise<System> {
	const broker = await createBroker([...services], { nodeID: `test-${process.pid}-${++seq}`, ...overrides }, settings);
	await broker.start();
	const server = services.includes("rest") ? (broker.getLocalService("rest") as unknown as { server: Server }).server : null;
	const url = server ? `http://127.0.0.1:${(server.address() as AddressInfo).port}` : "";
	return { broker, url, ...httpClient(url), stop: () => broker.stop() };
}

/** A small JSON-over-HTTP client of a gateway. */
export function httpClient(url: string): Pick<System, "request" | "get"> {
	const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
		const raw = typeof body === "string" || body === undefined ? body : JSON.stringify(body);
		const res = await fetch(url + path, {
			method,
			body: raw,
			headers: { ...(raw !== undefined ? { "content-type": "application/json" } : {}), ...headers },
			signal: AbortSignal.timeout(15_000)
		});
		const text = await res.text();
		let parsed: unknown = text;
		try {
			parsed = text ? JSON.parse(text) : undefined;
		} catch {
			// not JSON: keep the text
		}
		return { status: res.status, body: parsed as any, headers: res.headers };
	};
	return { request, get: (path: string) => request("GET", path) };
}

type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function eventually<T>(probe: () => Promise<T> | T, timeoutMs = 5_000, everyMs = 25): Promise<Truthy<T>> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	for (;;) {
		try {
			const value = await probe();
			if (value) return value as Truthy<T>;
			last = value;
		} catch (err) {
			last = err;
		}
		if (Date.now() > deadline)
			throw new Error(`Condition not met within ${timeoutMs} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
		await new Promise(r => setTimeout(r, everyMs));
	}
}
