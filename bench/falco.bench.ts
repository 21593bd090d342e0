/**
 * Falco intake throughput, single and batched, against a bare Elysia JSON POST in the same run, and intake
 * latency with an output that is down vs up.
 *
 *   bun run bench falco
 *
 * Servers are child processes pinned to CPU 1 (taskset), wrk on CPU 0. Interleaved rounds (A … F × ROUNDS):
 *   A  bare Elysia JSON POST, one alert (the peer: parse JSON, answer 200)
 *   B  falco POST /, one alert (validate, enrich, raw ring, fold, metrics), outputs: one webhook that is up
 *   C  falco POST /, one alert, its webhook output down (connection refused: retries with backoff)
 *   D  bare Elysia JSON POST, 100 alerts in an array
 *   E  falco POST /, 100 alerts in an array (alerts/s = requests/s × 100)
 * Identical alerts: the folding path (one group, counted) is the steady state measured.
 */
import { Elysia } from "elysia";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wrkLoad, autocannonLoad, hasCommand, median, waitForUrl, cpuTicks, TICKS_PER_SECOND, IS_LINUX, type LoadResult } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { freePort as freeTestPort } from "../test/support/free-port";

const peerIdx = Bun.argv.indexOf("--peer-elysia");
if (peerIdx > 0) {
  const port = Number(Bun.argv[peerIdx + 1]);
  new Elysia().post("/", ({ body }) => Response.json({ accepted: Array.isArray(body) ? body.length : 1 })).listen({ port, hostname: "127.0.0.1" });
  await new Promise(() => {});
}
const sinkIdx = Bun.argv.indexOf("--sink");
if (sinkIdx > 0) {
  Bun.serve({ port: Number(Bun.argv[sinkIdx + 1]), hostname: "127.0.0.1", async fetch(req) { await req.arrayBuffer(); return new Response("ok"); } });
  await new Promise(() => {});
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const BATCH = 100;
const pin = (cpu: number, cmd: string[]) => (hasCommand("taskset") ? ["taskset", "-c", String(cpu), ...cmd] : cmd);
const freePort = () => freeTestPort("0.0.0.0");

const alert = (i = 0) => ({
  output: "12:00:00.000000000: Warning Shell in trading container (process=bash user=root container_id=abc123)",
  priority: "Warning", rule: "TradPal Shell In Trading Container", time: "2026-12-06T00:00:00.000000000Z", source: "syscall", hostname: "node-1",
  tags: ["tradpal", "shell"], output_fields: { "container.id": "abc123", "container.name": "trading_service", "proc.name": "bash", "user.name": "root", "evt.time": 1764979200000000000 + i },
});
const single = JSON.stringify(alert());
const batch = JSON.stringify(Array.from({ length: BATCH }, (_, i) => alert(i)));

const dir = mkdtempSync(join(tmpdir(), "tradpal-bench-falco-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];
async function spawnServer(cmd: string[], url: string): Promise<number> {
  const p = Bun.spawn(pin(1, cmd), { stdout: "ignore", stderr: "inherit" });
  procs.push(p);
  await waitForUrl(url);
  return p.pid;
}
async function startFalco(name: string, outputUrl: string): Promise<{ url: string; pid: number }> {
  const port = freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, `host:\n  data_dir: ${join(dir, name)}\n  log_level: error\nplugins:\n  falco:\n    port: ${port}\n    hostname: 127.0.0.1\n    intake: { max_batch: 1000 }\n    services: [{ service: trading_service, container_names: [trading_service] }]\n    outputs:\n      - { name: hook, type: webhook, url: "${outputUrl}", minimum_priority: debug, retry_base: 50ms, retry_max: 1s }\n`);
  const pid = await spawnServer(["bun", "run", join(import.meta.dir, "../src/main.ts"), "--config", cfg, "--only", "falco"], `http://127.0.0.1:${port}/ping`);
  return { url: `http://127.0.0.1:${port}/`, pid };
}

try {
  const sinkPort = freePort();
  procs.push(Bun.spawn(pin(0, ["bun", "run", import.meta.path, "--sink", String(sinkPort)]), { stdout: "ignore", stderr: "inherit" }));
  const peerPort = freePort();
  const peerPid = await spawnServer(["bun", "run", import.meta.path, "--peer-elysia", String(peerPort)], `http://127.0.0.1:${peerPort}/`).catch(() => 0);
  const peer = { url: `http://127.0.0.1:${peerPort}/`, pid: peerPid };
  const up = await startFalco("up", `http://127.0.0.1:${sinkPort}/falco`);
  const down = await startFalco("down", `http://127.0.0.1:${freePort()}/falco`); // nothing listens there

  const cases = [
    { name: "A bare Elysia JSON POST, 1 alert", ...peer, body: single, per: 1 },
    { name: "B falco POST /, 1 alert (output up)", ...up, body: single, per: 1 },
    { name: "C falco POST /, 1 alert (output down)", ...down, body: single, per: 1 },
    { name: `D bare Elysia JSON POST, ${BATCH} alerts`, ...peer, body: batch, per: BATCH },
    { name: `E falco POST /, ${BATCH} alerts (output up)`, ...up, body: batch, per: BATCH },
  ];
  /** One load run; cpuUs = server CPU (user+system, /proc) per request over the run. */
  const run = async (c: (typeof cases)[number], durationS: number): Promise<LoadResult & { cpuUs: number }> => {
    const spec = { url: c.url, method: "POST", body: c.body, headers: { "content-type": "application/json" }, connections: 32, durationS };
    const t0 = IS_LINUX && c.pid ? cpuTicks(c.pid) : 0;
    const r = await (hasCommand("wrk") ? wrkLoad({ ...spec, cpu: 0, threads: 1 }) : autocannonLoad(spec));
    const ticks = IS_LINUX && c.pid ? cpuTicks(c.pid) - t0 : NaN;
    return { ...r, cpuUs: (ticks / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests) };
  };
  for (const c of cases) await run(c, 1); // warm-up (JIT)
  const results = new Map<string, (LoadResult & { cpuUs: number })[]>(cases.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) for (const c of cases) results.get(c.name)!.push(await run(c, DURATION_S));

  const med = (name: string, k: "rps" | "p50ms" | "p99ms" | "cpuUs") => median(results.get(name)!.map((x) => x[k]));
  const rows = cases.map((c) => {
    const rs = results.get(c.name)!;
    const bad = rs.reduce((a, x) => a + x.errors + x.non2xx, 0);
    return [c.name, Math.round(med(c.name, "rps")), Math.round(med(c.name, "rps") * c.per), med(c.name, "cpuUs").toFixed(1), med(c.name, "p50ms").toFixed(2), med(c.name, "p99ms").toFixed(2), bad];
  });
  const ratio = (a: number, b: number) => (med(cases[a].name, "rps") / med(cases[b].name, "rps")).toFixed(2);
  /** CPU-bound ratio: the peer's CPU per request over ours (the server is pinned and saturated, so CPU bounds its rate). */
  const cpuRatio = (a: number, b: number) => (med(cases[b].name, "cpuUs") / med(cases[a].name, "cpuUs")).toFixed(2);
  const md = [
    `Falco intake vs a bare Elysia JSON POST, same run. \`bun run bench falco\`. Servers pinned to CPU 1, ${hasCommand("wrk") ? "wrk" : "autocannon"} on CPU 0, 32 connections, ${ROUNDS} interleaved rounds × ${DURATION_S} s, medians. Identical alerts (the folding path).`,
    "",
    table(["case", "requests/s", "alerts/s", "server CPU µs/request", "p50 ms", "p99 ms", "errors+non-2xx"], rows),
    "",
    `Single: falco ÷ bare = ${ratio(1, 0)}× by requests/s, ${cpuRatio(1, 0)}× by CPU per request (the steadier figure on a shared machine). Batched (${BATCH}/request): falco ÷ bare = ${ratio(4, 3)}× (CPU ${cpuRatio(4, 3)}×), ${Math.round(med(cases[4].name, "rps") * BATCH).toLocaleString("en")} alerts/s. Output down (C) vs up (B): p99 ${med(cases[2].name, "p99ms").toFixed(2)} vs ${med(cases[1].name, "p99ms").toFixed(2)} ms, CPU ${med(cases[2].name, "cpuUs").toFixed(1)} vs ${med(cases[1].name, "cpuUs").toFixed(1)} µs/request.`,
    "Falco's http_output posts one alert per request: the single-alert row is the realistic hot path; it is answered on the host's raw HTTP/1.1 lane (plugins/falco/intake-wire.ts). Batches (our extension) cost validation, enrichment, folding and history per alert, where the bare peer only parses JSON.",
    `Load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} (a shared 2-core machine: compare ratios).`,
  ].join("\n");
  console.log(md);
  writeSection("falco", md);
} finally {
  for (const p of procs) p.kill();
  rmSync(dir, { recursive: true, force: true });
}
