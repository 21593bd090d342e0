/**
 * Benchmark building blocks: load generation (autocannon; wrk when installed), CPU time of a process
 * from /proc, machine facts, and interleaved rounds so peers are measured under the same noise.
 */
import autocannon from "autocannon";
import { readFileSync, existsSync, readdirSync } from "node:fs";
import { cpus } from "node:os";

export interface LoadResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  errors: number;
  non2xx: number;
  tool: "autocannon" | "wrk";
}

export interface LoadSpec {
  url: string;
  connections?: number;
  durationS?: number;
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  pipelining?: number;
  /** autocannon only: a fixed request rate over all connections (open loop), instead of as fast as possible. */
  rate?: number;
}

/** Ticks of user+system CPU of a process (clock ticks; 100/s on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the full line)
}
export const TICKS_PER_SECOND = 100;

/** CPU ticks of a process and its children (a supervisor and its workers), read from /proc. */
export function treeCpuTicks(pid: number): number {
  let total = cpuTicks(pid);
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let kids = "";
    try { kids = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8"); } catch { continue; }
    for (const c of kids.trim().split(/\s+/).filter(Boolean)) total += treeCpuTicks(Number(c));
  }
  return total;
}

/**
 * CPU ticks of one process by kind of thread: the JS thread ("main": the event loop, JS, syscalls), the
 * JIT compiler threads, and the rest (GC helpers, the allocator's scavenger, I/O pools). A thread that
 * came and went between two readings is missed: read over a steady run.
 */
export function threadCpuTicks(pid: number): { main: number; jit: number; other: number } {
  const out = { main: 0, jit: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat = "";
    try { stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"); } catch { continue; }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]);
    if (Number(tid) === pid) out.main += ticks;
    else if (name.startsWith("JIT")) out.jit += ticks;
    else out.other += ticks;
  }
  return out;
}

/** Run autocannon in this process (bounded by duration). */
export async function autocannonLoad(spec: LoadSpec): Promise<LoadResult> {
  const r = await autocannon({
    url: spec.url,
    connections: spec.connections ?? 64,
    duration: spec.durationS ?? 5,
    method: (spec.method ?? "GET") as any,
    body: spec.body,
    headers: spec.headers,
    pipelining: spec.pipelining ?? 1,
    ...(spec.rate ? { overallRate: spec.rate } : {}),
  });
  return {
    rps: r.requests.average,
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    tool: "autocannon",
  };
}

export function hasCommand(cmd: string): boolean {
  return Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
}

/** wrk (GET only, or a Lua body) pinned to a CPU when given; microsecond percentiles. */
export async function wrkLoad(spec: LoadSpec & { cpu?: number; threads?: number }): Promise<LoadResult> {
  const args = ["wrk", "-t", String(spec.threads ?? 1), "-c", String(spec.connections ?? 64), "-d", `${spec.durationS ?? 5}s`, "--latency"];
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push("-H", `${k}: ${v}`);
  let script: string | undefined;
  if (spec.method && spec.method !== "GET") {
    script = `/tmp/wrk-${process.pid}-${Date.now()}.lua`;
    await Bun.write(script, `wrk.method = ${JSON.stringify(spec.method)}\nwrk.body = ${JSON.stringify(spec.body ?? "")}\nwrk.headers["Content-Type"] = "application/json"\n`);
    args.push("-s", script);
  }
  args.push(spec.url);
  const cmd = spec.cpu !== undefined && hasCommand("taskset") ? ["taskset", "-c", String(spec.cpu), ...args] : args;
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const num = (re: RegExp) => { const m = re.exec(out); return m ? Number(m[1]) : NaN; };
  const lat = (pct: string) => {
    const m = new RegExp(`${pct}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const requests = num(/(\d+) requests in/);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50ms: lat("50"),
    p99ms: lat("99"),
    requests,
    errors: sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: Number.isNaN(non2xx) ? 0 : non2xx,
    tool: "wrk",
  };
}

/** Median of numbers (NaN-safe). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function machineInfo(): Record<string, string> {
  const cpu = cpus();
  const version = (cmd: string[]) => {
    try {
      const r = Bun.spawnSync(cmd);
      return (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0];
    } catch { return "not installed"; }
  };
  return {
    date: new Date().toISOString(),
    nproc: String(cpu.length),
    cpu: cpu[0]?.model ?? "unknown",
    bun: Bun.version,
    node: version(["node", "--version"]),
    nginx: hasCommand("nginx") ? version(["nginx", "-v"]) : "not installed",
    haproxy: hasCommand("haproxy") ? version(["haproxy", "-v"]) : "not installed",
    wrk: hasCommand("wrk") ? version(["wrk", "--version"]) : "not installed",
    redis: hasCommand("redis-server") ? version(["redis-server", "--version"]) : "not installed",
  };
}

/** Wait until `url` answers (any status) or throw after `timeoutMs`. */
export async function waitForUrl(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      return;
    } catch (err) { last = err; await Bun.sleep(50); }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${String(last)}`);
}

export const IS_LINUX = existsSync("/proc/self/stat");
