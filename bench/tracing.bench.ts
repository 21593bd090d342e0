/**
 * What tracing, the call graph and the log context cost the gateway's proxy path (issue 18). The same gateway
 * (pooled client, pinned to core 1) from git archives of commits, so each pair differs only by one change:
 *   · the commit before the request context in log lines (LOGCTX_BENCH_COMMIT) vs the checkout's HEAD, tracing
 *     off: the cost of the AsyncLocalStorage run per request (src/core/request-context.ts), the lazy ids and
 *     the gateway's trace-id note
 *   · HEAD with tracing off vs on at sample_ratio 0.01 and 1, exporting to a local OTLP sink (accepts, decodes
 *     and drops; core 0)
 *   · with TRACING_BENCH_HISTORY=1 also the earlier pairs: the parent of the call-graph commit with the tracing
 *     commit's plugin changes reverted vs as it is (the hooks, off), and that parent vs the call-graph commit
 * proxying GET /api/bench to the gateway bench's origin. Interleaved rounds, wrk at 64 connections, CPU µs per
 * request of the gateway process from /proc (the steadier figure on a shared machine), medians; the 1-minute
 * load average is recorded before every round.
 *
 *   bun run bench tracing            (~5 min; TRACING_BENCH_ROUNDS, default 9; TRACING_BENCH_RATE: see below)
 */
import { benchGatewayConfig } from "./lib/gateway-config";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { autocannonLoad, cpuTicks, hasCommand, median, TICKS_PER_SECOND, waitForUrl, wrkLoad, type LoadResult } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { freePort } from "../test/support/free-port";

const ROUNDS = Number(process.env.TRACING_BENCH_ROUNDS ?? 9), WARM_S = 2, RUN_S = 5, CONNS = 64, PROXY_CPU = 1, LOAD_CPU = 0;
/** The commit that brought tracing into the gateway, and the one that added the call graph. */
const TRACING = process.env.TRACING_BENCH_COMMIT ?? "ded25c9";
const TOPOLOGY = process.env.TOPOLOGY_BENCH_COMMIT ?? "65227fb";
/** The last commit before log lines carried the request's ids (request-context.ts). */
const LOGCTX = process.env.LOGCTX_BENCH_COMMIT ?? "dafc655";
const HISTORY = process.env.TRACING_BENCH_HISTORY === "1";
/**
 * TRACING_BENCH_RATE=N: every target gets N requests/s (autocannon, open loop, 32 connections) instead of wrk
 * as fast as it goes. On a busy machine the closed loop's rate swings with the load generator's share of the
 * CPU, and CPU per request with it (fewer requests per wake-up); at a fixed rate the targets compare alike.
 */
const RATE = Number(process.env.TRACING_BENCH_RATE ?? 0);
/** The checkout's commit: the sampled rows run today's tracing code against it with tracing off. */
const NOW = new TextDecoder().decode(Bun.spawnSync(["git", "-C", join(import.meta.dir, ".."), "rev-parse", "--short", "HEAD"]).stdout).trim();
const ROOT = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "trace-bench-"));
const canPin = hasCommand("taskset");
const useWrk = hasCommand("wrk");
const pinned = (cpu: number, cmd: string[]) => (canPin ? ["taskset", "-c", String(cpu), ...cmd] : cmd);
const procs: ReturnType<typeof Bun.spawn>[] = [];
const spawn = (cmd: string[], cwd = ROOT) => { const p = Bun.spawn(cmd, { cwd, stdout: "ignore", stderr: "ignore" }); procs.push(p); return p; };

const originPort = freePort();
spawn(pinned(LOAD_CPU, ["bun", "run", join(import.meta.dir, "peers/origin.ts"), String(originPort)]));
await waitForUrl(`http://127.0.0.1:${originPort}/api/bench`);
// The OTLP sink: a collector that takes every export and drops it (counts spans, to show export happened).
let exported = 0;
const sink = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(req) { const b = await req.json() as any; for (const rs of b.resourceSpans) for (const ss of rs.scopeSpans) exported += ss.spans.length; return Response.json({}); } });

// Trees side by side (other work in the checkout stays out of the comparison).
const trees = new Map<string, string>();
function tree(rev: string, revert?: string): string {
  const d = join(dir, rev.replace(/\W/g, "_") + (revert ? "-without-" + revert : ""));
  if (trees.has(d)) return d;
  trees.set(d, d);
  const undo = revert ? ` && git -C ${ROOT} diff -U0 ${revert} ${revert}^ -- plugins/gateway plugins/events | (cd ${d} && git apply --unidiff-zero)` : "";
  const tar = Bun.spawnSync(["bash", "-c", `set -o pipefail; mkdir -p ${d} && git -C ${ROOT} archive ${rev} | tar -x -C ${d}${undo}`]);
  if (tar.exitCode !== 0) throw new Error(`git archive ${rev}${revert ? ` without ${revert}` : ""} failed: ${tar.stderr}`);
  symlinkSync(join(ROOT, "node_modules"), join(d, "node_modules"));
  return d;
}

interface Target { name: string; url: string; pid: number }
async function gateway(name: string, root: string, tracing: string): Promise<Target> {
  const port = freePort();
  const cfg = join(dir, `${name.replace(/\W+/g, "-")}.yaml`);
  writeFileSync(cfg, benchGatewayConfig({ dataDir: join(dir, "data-" + port), port, upstream: `http://127.0.0.1:${originPort}`, hostExtra: tracing }));
  const p = spawn(pinned(PROXY_CPU, ["bun", "run", join(root, "src/main.ts"), "--config", cfg, "--only", "gateway"]), root);
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url, 15_000);
  return { name, url, pid: p.pid };
}

const tracing = (ratio: number) => `  tracing: { endpoint: "http://127.0.0.1:${sink.port}", sample_ratio: ${ratio} }\n`;
try {
  const history = HISTORY ? [
    await gateway(`${TOPOLOGY}^ without ${TRACING} (no tracing hooks)`, tree(`${TOPOLOGY}^`, TRACING), ""),
    await gateway(`${TOPOLOGY}^ (tracing hooks, off; before the call graph)`, tree(`${TOPOLOGY}^`), ""),
    await gateway(`${TOPOLOGY} (call graph, tracing off)`, tree(TOPOLOGY), ""),
  ] : [];
  const targets = [
    ...history,
    await gateway(`${LOGCTX} (before the log context, tracing off)`, tree(LOGCTX), ""),
    await gateway(`${NOW} (log context, tracing off)`, tree(NOW), ""),
    await gateway(`${NOW}, tracing on, 1 % sampled`, tree(NOW), tracing(0.01)),
    await gateway(`${NOW}, tracing on, 100 % sampled`, tree(NOW), tracing(1)),
  ];
  const load = (url: string, seconds: number): Promise<LoadResult> =>
    RATE > 0 ? autocannonLoad({ url, connections: 32, durationS: seconds, rate: RATE }) : useWrk ? wrkLoad({ url, connections: CONNS, durationS: seconds, cpu: canPin ? LOAD_CPU : undefined, threads: 1 }) : autocannonLoad({ url, connections: CONNS, durationS: seconds });
  const samples = new Map<string, { rps: number; cpuUs: number; p99: number; errors: number }[]>(targets.map((t) => [t.name, []]));
  const loads: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    loads.push(loadavg()[0]);
    // A different target goes first each round (rotation): none always follows the same neighbour.
    for (const t of targets.map((_, i) => targets[(i + round) % targets.length])) {
      await load(t.url, WARM_S);
      const c0 = cpuTicks(t.pid);
      const r = await load(t.url, RUN_S);
      const cpuUs = ((cpuTicks(t.pid) - c0) / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests);
      samples.get(t.name)!.push({ rps: r.rps, cpuUs, p99: r.p99ms, errors: r.errors + r.non2xx });
      console.log(`round ${round} ${t.name}: ${Math.round(r.rps)} rps, ${cpuUs.toFixed(1)} µs/req`);
    }
  }
  // The context on its own, without the noise of a proxy under load: separate processes, interleaved.
  const alsRuns: Record<"plain" | "context", number[]> = { plain: [], context: [] };
  for (let i = 0; i < 5; i++) for (const mode of ["plain", "context"] as const) {
    const p = Bun.spawnSync(pinned(PROXY_CPU, ["bun", join(import.meta.dir, "peers/als-cost.ts"), mode]));
    alsRuns[mode].push(JSON.parse(new TextDecoder().decode(p.stdout)).ns);
  }
  const alsPlain = median(alsRuns.plain), alsContext = median(alsRuns.context);
  const med = (n: string, k: "rps" | "cpuUs" | "p99") => median(samples.get(n)!.map((x) => x[k]));
  const minCpu = (n: string) => Math.min(...samples.get(n)!.map((x) => x.cpuUs));
  // Each row against the row it is a change of: the hooks (off) vs none, the call graph vs before it,
  // the sampled rows vs HEAD with tracing off.
  const h = history.length;
  const refOf = [...(HISTORY ? [0, 0, 1] : []), h, h, h + 1, h + 1];
  const rows = targets.map((t, i) => {
    const ref = targets[refOf[i]].name;
    // Paired: each round's CPU per request against its reference's in the same round (the machine's load moves
    // slowly next to a round), the median of those ratios; then the ratio of the medians.
    const a = samples.get(t.name)!, b = samples.get(ref)!;
    const paired = median(a.map((x, r) => x.cpuUs / b[r].cpuUs));
    const pct = (x: number) => `${x >= 1 ? "+" : ""}${((x - 1) * 100).toFixed(1)} %`;
    const vs = i === refOf[i] ? "reference" : `${pct(paired)} (medians ${pct(med(t.name, "cpuUs") / med(ref, "cpuUs"))})`;
    return [t.name, Math.round(med(t.name, "rps")), med(t.name, "p99").toFixed(2), med(t.name, "cpuUs").toFixed(1), minCpu(t.name).toFixed(1), vs, samples.get(t.name)!.reduce((a, x) => a + x.errors, 0)];
  });
  const md = [
    `## Tracing, call-graph and log-context cost on the gateway proxy path${RATE > 0 ? ` (fixed rate, ${RATE}/s)` : ""}`, "",
    "Command: `bun run bench tracing` (bench/tracing.bench.ts). The gateway (pooled client, one process pinned to CPU 1, access log on,",
    RATE > 0
      ? `rate limiting off) proxies \`GET /api/bench\` to the gateway bench's origin at a fixed ${RATE} requests/s (TRACING_BENCH_RATE; autocannon, open loop, 32 connections); the origin on CPU 0.`
      : "rate limiting off) proxies `GET /api/bench` to the gateway bench's origin; wrk (1 thread, 64 connections) and the origin on CPU 0.",
    `${ROUNDS} interleaved rounds (the order rotates each round), ${WARM_S} s warm-up + ${RUN_S} s measured; medians. Every row runs a git archive of a commit, so a row and`,
    "its reference differ only by one change (other work in the checkout stays out); the sampled rows export to a local OTLP/HTTP sink",
    "(a Bun server that decodes and drops the JSON).", "",
    table(["gateway", "rps (median)", "p99 ms", "CPU µs/req", "CPU µs/req (min)", "CPU vs its reference: per-round pairs (ratio of medians)", "errors"], rows), "",
    `Spans the sink received over the run: ${exported}. Target (issue 18): tracing off within noise of before; 1 % sampling ≤ 5 % CPU per request.`,
    "The machine is shared (other work runs during the rounds): the min column is the least-disturbed round.",
    `The request context alone (bench/peers/als-cost.ts: a simulated request of 5 awaits, 300k per run, 5 interleaved runs per mode in separate processes on CPU 1): ${alsPlain.toFixed(0)} ns CPU plain, ${alsContext.toFixed(0)} ns inside runInRequest with a new RequestContext: ${(alsContext - alsPlain).toFixed(0)} ns per request.`,
    `1-minute load average before each round: ${loads.map((l) => l.toFixed(2)).join(", ")}; at the end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}.`,
  ].join("\n");
  console.log(md);
  writeSection(RATE > 0 ? "tracing-rate" : "tracing", md);
} finally {
  for (const p of procs) { p.kill("SIGTERM"); await p.exited; }
  sink.stop(true);
  rmSync(dir, { recursive: true, force: true });
}
