/**
 * Whether a core had time to spare during a measured window, from /proc/stat. On this 2-core layout the
 * server under test has CPU 1 and the load side (wrk, and redis-server when the server needs one) CPU 0:
 * a round where the server's core sat idle while the load core was saturated measured the load side's
 * limit, not the server's, so its rps ratio says nothing about the server.
 */
import { readFileSync } from "node:fs";

/** Per CPU: idle (idle + iowait) and total ticks so far. */
export interface CoreTicks { idle: number[]; total: number[] }

/** Parse /proc/stat's per-CPU lines ("cpu0 user nice system idle iowait irq softirq steal ..."). */
export function parseCoreTicks(procStat: string): CoreTicks {
  const idle: number[] = [];
  const total: number[] = [];
  for (const line of procStat.split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    // guest and guest_nice (fields 9-10) are already inside user and nice.
    idle[Number(m[1])] = f[3] + (f[4] ?? 0);
    total[Number(m[1])] = f.slice(0, 8).reduce((a, b) => a + b, 0);
  }
  return { idle, total };
}

export function coreTicks(): CoreTicks {
  return parseCoreTicks(readFileSync("/proc/stat", "utf8"));
}

/** Share (0-1) of `cpu`'s time spent idle between two readings; NaN when the CPU is unknown or no time passed. */
export function idleShare(a: CoreTicks, b: CoreTicks, cpu: number): number {
  const total = (b.total[cpu] ?? NaN) - (a.total[cpu] ?? NaN);
  return total > 0 ? ((b.idle[cpu] ?? 0) - (a.idle[cpu] ?? 0)) / total : NaN;
}

/** Above this idle share the server's core had time to spare. */
export const SPARE = 0.05;
/** Below this idle share the load core was saturated. */
export const SATURATED = 0.03;

/** The window measured the load side: the server's core had time to spare while the load core had none. */
export function loadBound(serverIdle: number, loadIdle: number): boolean {
  return serverIdle >= SPARE && loadIdle <= SATURATED;
}

/** "12 / 0" (percent idle of the server's core / the load core) for a results table. */
export function idleCell(serverIdle: number, loadIdle: number): string {
  const pct = (x: number) => (Number.isNaN(x) ? "?" : String(Math.round(x * 100)));
  return `${pct(serverIdle)} / ${pct(loadIdle)}`;
}
