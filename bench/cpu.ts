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
