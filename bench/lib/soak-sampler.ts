/**
 * Resident memory and open file descriptors of every platform process over a soak (bench/soak.bench.ts),
 * from /proc: VmRSS of /proc/<pid>/status and the entries of /proc/<pid>/fd. Processes are named by role
 * ("gateway worker 1", "events", "redis"); a role's pid changes when the soak restarts it, so each sample
 * keeps its pid and the trend of a role is read per pid (one process's life), never across a restart.
 */
import { readdirSync, readFileSync } from "node:fs";
import { childPids } from "./chaos-procs";

export interface ProcSampleRow { t: number; role: string; pid: number; rssMb: number; fds: number }

export function rssMb(pid: number): number {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024; } catch { return NaN; }
}
export function openFds(pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; }
}
/** One variable of a process's environment (own user: /proc/<pid>/environ is readable); undefined when absent or gone. */
export function envOf(pid: number, name: string): string | undefined {
  try {
    const hit = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((kv) => kv.startsWith(`${name}=`));
    return hit?.slice(name.length + 1);
  } catch { return undefined; }
}
/** The workers under a `host.workers` supervisor, by their TRADPAL_WORKER index. */
export function workerPids(supervisorPid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of childPids(supervisorPid)) {
    const idx = envOf(pid, "TRADPAL_WORKER");
    if (idx !== undefined) out.set(Number(idx), pid);
  }
  return out;
}

export class ProcSampler {
  readonly rows: ProcSampleRow[] = [];
  /** The machine's 1-min load average at each tick (others' runs share these cores). */
  readonly load: { t: number; load1: number }[] = [];
  private timer?: ReturnType<typeof setInterval>;
  /** `roles` is asked at every tick: the pids of the moment (a restarted process has a new one). */
  constructor(private readonly roles: () => { role: string; pid: number | undefined }[], readonly everyMs: number) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }
  stop(): void { clearInterval(this.timer); }

  sample(): void {
    const t = Date.now();
    try { this.load.push({ t, load1: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]) }); } catch { /* no /proc */ }
    for (const { role, pid } of this.roles()) {
      if (!pid) continue;
      const rss = rssMb(pid);
      if (Number.isNaN(rss)) continue; // between a kill and its restart
      this.rows.push({ t, role, pid, rssMb: rss, fds: openFds(pid) });
    }
  }

  loadStats(): { median: number; max: number } {
    const xs = this.load.map((l) => l.load1).sort((a, b) => a - b);
    return { median: xs[Math.floor(xs.length / 2)] ?? NaN, max: xs[xs.length - 1] ?? NaN };
  }

  roleNames(): string[] { return [...new Set(this.rows.map((r) => r.role))]; }

  /**
   * Per role: the process that lived longest (most samples), its RSS and fds at start, over its first and last
   * `windowMs` (medians), the maximum, and the least-squares slope of RSS over its second half (MB/min),
   * after the first `warmMs` of its life (JIT, pools filling).
   */
  trend(role: string, windowMs: number, warmMs: number) {
    const byPid = new Map<number, ProcSampleRow[]>();
    for (const r of this.rows) if (r.role === role) byPid.set(r.pid, [...(byPid.get(r.pid) ?? []), r]);
    const lives = [...byPid.values()].sort((a, b) => b.length - a.length);
    const life = lives[0] ?? [];
    const first = life[0]?.t ?? 0;
    const warm = life.filter((r) => r.t >= first + warmMs);
    const last = warm[warm.length - 1]?.t ?? 0;
    const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
    const head = warm.filter((r) => r.t <= (warm[0]?.t ?? 0) + windowMs);
    const tail = warm.filter((r) => r.t >= last - windowMs);
    const half = warm.filter((r) => r.t >= (warm[0]?.t ?? 0) + (last - (warm[0]?.t ?? 0)) / 2);
    return {
      pids: lives.length, lifeMin: life.length ? (life[life.length - 1].t - first) / 60_000 : 0,
      rssStart: life[0]?.rssMb ?? NaN, rssHead: med(head.map((r) => r.rssMb)), rssTail: med(tail.map((r) => r.rssMb)),
      rssMax: Math.max(...life.map((r) => r.rssMb)), slopeHalf: slope(half.map((r) => [(r.t - first) / 60_000, r.rssMb])),
      slopeAll: slope(warm.map((r) => [(r.t - first) / 60_000, r.rssMb])),
      fdsHead: med(head.map((r) => r.fds)), fdsTail: med(tail.map((r) => r.fds)), fdsMax: Math.max(...life.map((r) => r.fds)),
    };
  }
}

/** Least-squares slope of y over x (NaN with fewer than 3 points). */
export function slope(pts: [number, number][]): number {
  if (pts.length < 3) return NaN;
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n;
  const my = pts.reduce((a, p) => a + p[1], 0) / n;
  let num = 0, den = 0;
  for (const [x, y] of pts) { num += (x - mx) * (y - my); den += (x - mx) ** 2; }
  return den ? num / den : NaN;
}
