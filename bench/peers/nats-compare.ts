/**
 * Acknowledged publishes, ours vs NATS JetStream, from the same client process (bench/peers/nats-load.ts,
 * pinned to CPU 0) with the same publishes in flight: the cases, one measured run of a case (server CPU
 * read from /proc over the measured window), and the section of bench/RESULTS.md they make.
 */
import { join } from "node:path";
import { cpuTicks, median, TICKS_PER_SECOND } from "../lib/measure";
import { table } from "../lib/results";
import type { LoadOut, Spec } from "./nats-load";

export interface Case {
  name: string;
  /** Row group: single, batch100, batch500. */
  kind: string;
  /** What it is compared with (a case name) for the ratio column. */
  vs?: string;
  spec: Omit<Spec, "warmS" | "durationS">;
  /** Server-side processes whose CPU counts for this case (ours + its redis-server, or nats-server). */
  pids: number[];
}

export interface Sample extends LoadOut { serverCpuUsPerEvent: number }

/** Run one case in a fresh client process pinned to `cpu`; bounded by its duration plus a margin. */
export async function runCase(c: Case, warmS: number, durationS: number, pin: (cpu: number, cmd: string[]) => string[]): Promise<Sample> {
  const spec: Spec = { ...c.spec, warmS, durationS };
  const proc = Bun.spawn(pin(0, ["bun", "run", join(import.meta.dir, "nats-load.ts"), JSON.stringify(spec)]), { stdout: "pipe", stderr: "inherit" });
  const killer = setTimeout(() => proc.kill(), (warmS + durationS + 30) * 1000);
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let text = "";
  let t0: number[] | undefined;
  let t1: number[] | undefined;
  const ticks = () => c.pids.map((p) => { try { return cpuTicks(p); } catch { return 0; } });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    if (!t0 && text.includes("MARK\n")) t0 = ticks();
    if (t0 && !t1 && text.trimEnd().endsWith("}")) t1 = ticks();
  }
  clearTimeout(killer);
  await proc.exited;
  const line = text.split("\n").find((l) => l.startsWith("{"));
  if (!line || !t0) throw new Error(`client run ${c.name} failed: ${text}`);
  const out = JSON.parse(line) as LoadOut;
  const used = (t1 ?? ticks()).reduce((a, t, i) => a + t - t0![i], 0);
  return { ...out, serverCpuUsPerEvent: ((used / TICKS_PER_SECOND) * 1e6) / Math.max(1, out.events) };
}

/** Markdown: one row per case (medians over rounds), the ratio to its `vs` case per round, then the median. */
export function compareSection(cases: Case[], samples: Map<string, Sample[]>, note: string): string {
  const med = (name: string, f: (s: Sample) => number) => median(samples.get(name)!.map(f));
  const ratio = (a: string, b: string) => median(samples.get(a)!.map((s, i) => s.eventsPerS / samples.get(b)![i].eventsPerS));
  const rows = cases.map((c) => {
    const xs = samples.get(c.name)!;
    const eps = xs.map((s) => s.eventsPerS);
    return [c.name, Math.round(med(c.name, (s) => s.eventsPerS)), `${Math.round(Math.min(...eps))}–${Math.round(Math.max(...eps))}`,
      c.vs ? `${ratio(c.name, c.vs).toFixed(2)}× ${c.vs.split(",")[0]}` : "—",
      med(c.name, (s) => s.p50ms).toFixed(2), med(c.name, (s) => s.p99ms).toFixed(2),
      med(c.name, (s) => s.serverCpuUsPerEvent).toFixed(2), med(c.name, (s) => s.clientCpuUsPerEvent).toFixed(2),
      xs.reduce((a, s) => a + s.errors, 0)];
  });
  return `${note}\n\n${table(["case", "events/s (median)", "range", "ratio (median of per-round ratios)", "p50 ms / op", "p99 ms / op", "server CPU µs/event", "client CPU µs/event", "errors"], rows)}`;
}

/** The ratio the issue asks for, for the summary line. */
export function ratioOf(samples: Map<string, Sample[]>, a: string, b: string): number {
  return median(samples.get(a)!.map((s, i) => s.eventsPerS / samples.get(b)![i].eventsPerS));
}
