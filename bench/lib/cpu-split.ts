/**
 * Where a saturated server's CPU goes, by kind of code: the kernel (the TCP stack, loopback delivery,
 * epoll), the program's own machine code (nginx, haproxy, Bun's runtime: event loop, sockets, GC, the
 * interpreter), the JIT-compiled JavaScript, and libc. Sampled with `perf record -e cpu-clock` (a software
 * clock: this VM has no hardware counters) over a few seconds of load, split by DSO. Two proxies that make
 * the same syscalls per request spend about the same in the kernel; what is left is what their code costs.
 */
import { hasCommand, median } from "./measure";

export interface CpuSplit { kernel: number; program: number; jit: number; libc: number; samples: number }

/** Whether `perf record` can sample another process here (installed and allowed). */
export function canSample(): boolean {
  if (!hasCommand("perf")) return false;
  const r = Bun.spawnSync(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"], { stdout: "ignore", stderr: "ignore" });
  return r.exitCode === 0;
}

/** Shares (0–1) of `pid`'s samples over `seconds`, taken while the caller keeps it loaded. */
export async function sampleCpuSplit(pid: number, seconds: number, file: string): Promise<CpuSplit> {
  const rec = Bun.spawn(["perf", "record", "-e", "cpu-clock", "-F", "2999", "-p", String(pid), "-o", file, "--", "sleep", String(seconds)], { stdout: "ignore", stderr: "ignore" });
  await rec.exited;
  const rep = Bun.spawnSync(["perf", "report", "-i", file, "--sort", "dso", "--stdio", "--percentage", "relative"], { stdout: "pipe", stderr: "ignore" });
  return parseDsoReport(rep.stdout.toString());
}

/** `perf report --sort dso` lines ("  58.22%  [kernel.kallsyms]") folded into the four kinds. */
export function parseDsoReport(text: string): CpuSplit {
  const split: CpuSplit = { kernel: 0, program: 0, jit: 0, libc: 0, samples: 0 };
  const m = /# Samples: (\d+)(K?)/.exec(text);
  if (m) split.samples = Number(m[1]) * (m[2] === "K" ? 1000 : 1);
  for (const line of text.split("\n")) {
    const row = /^\s+([\d.]+)%\s+(.+?)\s*$/.exec(line);
    if (!row) continue;
    const share = Number(row[1]) / 100;
    const dso = row[2];
    if (dso.startsWith("[kernel")) split.kernel += share;
    else if (dso.startsWith("[JIT]") || dso.startsWith("perf-")) split.jit += share;
    else if (/^(libc|libm|libpthread|ld-linux|\[vdso\])/.test(dso)) split.libc += share;
    else split.program += share;
  }
  return split;
}

export interface SplitTarget { name: string; url: string; pid: number; cpuUs: number }

/**
 * Each target loaded by `load` for `seconds` + 2 while perf samples it, as a table: the shares and, from the
 * target's CPU µs/request measured in the rounds, the µs each kind of code costs per request.
 */
export async function cpuSplitTable(targets: SplitTarget[], load: (url: string, seconds: number) => Promise<unknown>, dir: string, seconds = 3): Promise<string> {
  if (!canSample()) return "_perf is not available here (install linux-perf): no split._";
  const rows: string[] = ["| process | kernel | program / runtime | JIT'd JS | libc | samples | kernel µs/req | everything else µs/req |", "|---|---|---|---|---|---|---|---|"];
  for (const t of targets) {
    const loading = load(t.url, seconds + 2);
    await Bun.sleep(1000);
    const s = await sampleCpuSplit(t.pid, seconds, `${dir}/perf-${t.pid}.data`);
    await loading;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    rows.push(`| ${t.name} | ${pct(s.kernel)} | ${pct(s.program)} | ${pct(s.jit)} | ${pct(s.libc)} | ${s.samples} | ${(t.cpuUs * s.kernel).toFixed(1)} | ${(t.cpuUs * (1 - s.kernel)).toFixed(1)} |`);
  }
  return rows.join("\n");
}

/** "name: JS thread X, JIT Y, helpers Z µs/req" for each process measured by thread (/proc, in the rounds). */
export function threadLine(byThread: Map<string, { main: number; jit: number; other: number }[]>): string {
  return [...byThread].filter(([, xs]) => xs.length > 0).map(([name, xs]) => {
    const m = (k: "main" | "jit" | "other") => median(xs.map((x) => x[k])).toFixed(1);
    return `${name}: JS thread ${m("main")}, JIT ${m("jit")}, helpers ${m("other")} µs/req`;
  }).join("; ");
}
