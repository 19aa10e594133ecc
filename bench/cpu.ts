/** CPU time of processes, from /proc (Linux): what a bench row cost, whichever process paid it. */
import fs from "node:fs";

/** pid → [ppid, CPU seconds used so far] of every process, from /proc/<pid>/stat. */
export function processTable(): Map<number, [number, number]> {
	const table = new Map<number, [number, number]>();
	for (const name of fs.readdirSync("/proc")) {
		if (!/^\d+$/.test(name)) continue;
		try {
			// fields after the "(comm)", which may contain spaces: state, ppid, …, utime (12th), stime (13th)
			const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
			const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			table.set(Number(name), [Number(f[1]), (Number(f[11]) + Number(f[12])) / 100]);
		} catch {
			// gone meanwhile
		}
	}
	return table;
}

/** CPU seconds these processes used so far, together (one that is gone counts 0). */
export function processCpuSeconds(...pids: (number | undefined)[]): number {
	const table = processTable();
	return pids.reduce<number>((sum, pid) => sum + (pid == null ? 0 : (table.get(pid)?.[1] ?? 0)), 0);
}

export function childrenOf(pid: number): number[] {
	return [...processTable()].filter(([, [ppid]]) => ppid === pid).map(([child]) => child);
}

/**
 * CPU seconds used so far by this process and all its descendants: the load generator, the
 * service processes, the bus and PostgreSQL. Per request it says what a row costs the machine,
 * which other users of a shared machine change much less than they change req/s.
 */
export function systemCpuSeconds(): number {
	const table = processTable();
	const mine = new Set([process.pid]);
	// a child may be listed before its parent: repeat until no new descendant turns up
	let grew = true;
	while (grew) {
		grew = false;
		for (const [pid, [ppid]] of table)
			if (!mine.has(pid) && mine.has(ppid)) {
				mine.add(pid);
				grew = true;
			}
	}
	return [...mine].reduce((sum, pid) => sum + (table.get(pid)?.[1] ?? 0), 0);
}

/** Busy and total jiffies of the whole machine, every core together (/proc/stat). */
function machineJiffies(): [number, number] {
	const [, ...fields] = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/);
	const n = fields.map(Number);
	// user nice system idle iowait irq softirq steal …: idle and iowait are not busy
	const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
	return [total - n[3] - n[4], total];
}

/**
 * Resolves once the machine has been quiet (under `busy` of its CPU) for `windowMs`, or after
 * `timeoutMs` whatever it is doing: a server that answers before it is done starting (RabbitMQ
 * loading its plugins for seconds after its port opens) would otherwise be timed with the next row.
 */
export async function settled({ busy = 0.15, windowMs = 500, timeoutMs = 30_000 } = {}): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	let [b0, t0] = machineJiffies();
	while (Date.now() < deadline) {
		await new Promise(resolve => setTimeout(resolve, windowMs));
		const [b1, t1] = machineJiffies();
		if (t1 > t0 && (b1 - b0) / (t1 - t0) < busy) return;
		[b0, t0] = [b1, t1];
	}
}
