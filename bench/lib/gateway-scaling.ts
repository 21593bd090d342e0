/**
 * The `workers: 2` row of `bun run bench gateway` against the pinned 1-worker row: the scaling cost per
 * request, and what it implies for machines with more cores (an estimate, not a measurement).
 */
import { loadavg } from "node:os";

/** The row names of the pinned 1-worker gateway and of the 2-worker one (bench/gateway.bench.ts names its rows with them). */
export const ONE_WORKER = "gateway (pooled client)";
export const TWO_WORKERS = "gateway (pooled, workers: 2, unpinned)";

/** `names`: the rows of this run; `loadStart`: the 1-minute load average when the run began. */
export function scalingLine(med: (n: string, k: "rps" | "cpuUs") => number, minCpu: (n: string) => number, names: string[], loadStart: string): string {
  if (!names.includes(TWO_WORKERS)) return "";
  const c1 = minCpu(ONE_WORKER);
  const c2 = minCpu(TWO_WORKERS);
  const perCore = med(ONE_WORKER, "rps");
  const cost = c2 / c1;
  // A cheaper request with two workers is noise, not a gain: the estimate never counts on one.
  const k = Math.max(1, cost);
  return `CPU per request: ${c2.toFixed(1)} µs with 2 workers vs ${c1.toFixed(1)} µs with 1 (${cost >= 1 ? "+" : ""}${((cost - 1) * 100).toFixed(0)} %). With one core per worker and the load elsewhere, a 4-core machine would reach about ${Math.round((4 * perCore) / k / 1000)}k rps and an 8-core one ${Math.round((8 * perCore) / k / 1000)}k (this run's pinned 1-worker rps × cores ÷ the scaling cost, at least 1; an estimate, not a measurement). Load average at the start and end of this run: ${loadStart} → ${loadavg().map((x) => x.toFixed(1)).join(" ")} (another process's load shows up in every row's rps).`;
}
