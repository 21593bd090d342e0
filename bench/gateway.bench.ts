/**
 * The gateway's proxy path against the peers a user would otherwise deploy, in ONE run:
 *   origin direct · gateway (bun run src/main.ts --only gateway) · nginx (1 process, upstream keepalive)
 *   · haproxy (nbthread 1, http-reuse) · fastify + @fastify/http-proxy (Node) · two bare Bun probes (floors)
 * all proxying GET /api/bench to the same fixed origin (Bun.serve, 114-byte JSON).
 *
 *   bun run bench gateway            (~4 min)
 *
 * Layout on the 2-core machine: every proxy pinned to core 1 (taskset), the load generator (wrk) and
 * the origin on core 0. Interleaved rounds (A B C D E × 5, every other one in reverse order; GW_BENCH_ROUNDS): 2 s warm-up, 5 s measured with wrk at
 * 64 connections; CPU µs per request of the proxy process from /proc/<pid>/stat (utime+stime).
 * Then one pass at 1 connection (the latency one hop adds) and one autocannon pass (the project's tool).
 */
import { benchGatewayConfig } from "./lib/gateway-config";
import { loadavg } from "node:os";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { autocannonLoad, treeCpuTicks as cpuTicks, threadCpuTicks, hasCommand, machineInfo, median, TICKS_PER_SECOND, waitForUrl, wrkLoad, type LoadResult } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { cpuSplitTable, threadLine } from "./lib/cpu-split";
import { ONE_WORKER, scalingLine, TWO_WORKERS } from "./lib/gateway-scaling";
import { coreTicks, idleCell, idleShare, loadBound } from "./lib/core-idle";
import { freePort } from "../test/support/free-port";

const loadStart = loadavg().map((x) => x.toFixed(1)).join(" ");
/** The host's speed drifts (the same in-process loop ran 1.75× slower a minute later): more, shorter-apart rounds. */
const ROUNDS = Number(process.env.GW_BENCH_ROUNDS ?? 5);
const WARM_S = 2;
const RUN_S = 5;
const CONNS = 64;
const PROXY_CPU = 1;
const LOAD_CPU = 0;
const ROOT = join(import.meta.dir, "..");
const PEERS = join(import.meta.dir, "peers");
const dir = mkdtempSync(join(tmpdir(), "gw-bench-"));
const canPin = hasCommand("taskset");
const useWrk = hasCommand("wrk");


const pinned = (cpu: number, cmd: string[]) => (canPin ? ["taskset", "-c", String(cpu), ...cmd] : cmd);

interface Target {
  name: string;
  url: string;
  pid: number;
  /** Whose CPU is read: the proxy, or the origin itself for the direct row. */
  cpuOf: string;
  stop(): Promise<void>;
}

const procs: ReturnType<typeof Bun.spawn>[] = [];
function spawn(cmd: string[], env: Record<string, string> = {}) {
  // stdout/stderr ignored: an unread pipe would block a chatty process once its buffer fills.
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore", env: { ...process.env, ...env } });
  procs.push(p);
  return p;
}
async function stopProc(p: ReturnType<typeof Bun.spawn>) {
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 3000);
  await p.exited;
  clearTimeout(t);
}

// ---- origin -------------------------------------------------------------------------------------
const originPort = freePort();
const origin = spawn(pinned(LOAD_CPU, ["bun", "run", join(PEERS, "origin.ts"), String(originPort)]));
const originUrl = `http://127.0.0.1:${originPort}`;
await waitForUrl(`${originUrl}/api/bench`);

const targets: Target[] = [{ name: "origin direct", url: `${originUrl}/api/bench`, pid: origin.pid, cpuOf: "origin", stop: async () => {} }];

// ---- gateway ------------------------------------------------------------------------------------
/** The edge's rate limiter (1000/min by default) is switched off: this measures the proxy path. */
const RATE_LIMITS_OFF = "    rate_limiting: { enabled: false }\n";

async function startGateway(name: string, client: "fetch" | "pooled", workers = 1): Promise<Target> {
  const port = freePort();
  const cfg = join(dir, `gateway-${client}-${workers}.yaml`);
  writeFileSync(cfg, benchGatewayConfig({
    dataDir: join(dir, "data"), port, upstream: originUrl, client, hostExtra: `  workers: ${workers}\n`, gatewayExtra: RATE_LIMITS_OFF,
    serviceExtra: "        transform:\n          request_headers: { set: { x-gateway: tradpal } }\n",
  }));
  // Workers > 1 use both cores (shared with wrk and the origin: the figure is the scaling cost per request).
  const cmd = ["bun", "run", join(ROOT, "src/main.ts"), "--config", cfg, "--only", "gateway"];
  const p = spawn(workers > 1 ? cmd : pinned(PROXY_CPU, cmd));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url, 15_000);
  const probe = await fetch(url);
  const text = await probe.text();
  if (probe.status !== 200 || text.length !== 114) throw new Error(`gateway probe failed: ${probe.status} ${text}`);
  return { name, url, pid: p.pid, cpuOf: "proxy", stop: () => stopProc(p) };
}

// ---- peers --------------------------------------------------------------------------------------
function template(file: string, vars: Record<string, string | number>): string {
  let t = readFileSync(join(PEERS, file), "utf8");
  for (const [k, v] of Object.entries(vars)) t = t.replaceAll(`{{${k}}}`, String(v));
  return t;
}

async function startNginx(): Promise<Target | undefined> {
  if (!hasCommand("nginx")) return undefined;
  const port = freePort();
  const ndir = join(dir, "nginx");
  mkdirSync(ndir, { recursive: true });
  const conf = join(ndir, "nginx.conf");
  writeFileSync(conf, template("nginx.conf.tmpl", { DIR: ndir, PORT: port, ORIGIN_PORT: originPort }));
  const p = spawn(pinned(PROXY_CPU, ["nginx", "-p", ndir, "-c", conf]));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url);
  return { name: "nginx (1 process, keepalive 64)", url, pid: p.pid, cpuOf: "proxy", stop: () => stopProc(p) };
}

async function startHaproxy(): Promise<Target | undefined> {
  if (!hasCommand("haproxy")) return undefined;
  const port = freePort();
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(cfg, template("haproxy.cfg.tmpl", { PORT: port, ORIGIN_PORT: originPort }));
  const p = spawn(pinned(PROXY_CPU, ["haproxy", "-db", "-f", cfg]));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url);
  return { name: "haproxy (nbthread 1)", url, pid: p.pid, cpuOf: "proxy", stop: () => stopProc(p) };
}

async function startFastify(): Promise<Target | undefined> {
  if (!hasCommand("node")) return undefined;
  const port = freePort();
  const p = spawn(pinned(PROXY_CPU, ["node", join(PEERS, "fastify-proxy.mjs"), String(port), String(originPort)]));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url, 15_000);
  return { name: "fastify + @fastify/http-proxy", url, pid: p.pid, cpuOf: "proxy", stop: () => stopProc(p) };
}

async function startProbe(file: string, name: string): Promise<Target | undefined> {
  const port = freePort();
  const p = spawn(pinned(PROXY_CPU, ["bun", "run", join(PEERS, file), String(port), String(originPort)]));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url);
  return { name, url, pid: p.pid, cpuOf: "proxy", stop: () => stopProc(p) };
}
const startRawProbe = () => startProbe("bun-raw-probe.ts", "bare Bun.listen relay probe (floor)");
const startServeProbe = () => startProbe("bun-pooled-probe.ts", "bare Bun.serve + pool probe");

const variants = (process.env.GW_BENCH_CLIENTS ?? "fetch,pooled").split(",").filter(Boolean) as ("fetch" | "pooled")[];
try {
  for (const v of variants) targets.push(await startGateway(v === "fetch" ? "gateway (fetch())" : ONE_WORKER, v));
  // nginx next to the pooled gateway, so each round's pair is measured seconds apart (see PAIRED below).
  for (const start of [startNginx]) {
    const t = await start().catch((err) => { console.error(`peer failed to start: ${err}`); return undefined; });
    if (t) targets.push(t);
  }
  if (variants.includes("pooled")) targets.push(await startGateway(TWO_WORKERS, "pooled", 2));
  for (const start of [startHaproxy, startFastify, startRawProbe, startServeProbe]) {
    const t = await start().catch((err) => { console.error(`peer failed to start: ${err}`); return undefined; });
    if (t) targets.push(t);
  }

  const load = (url: string, conns: number, seconds: number): Promise<LoadResult> =>
    useWrk ? wrkLoad({ url, connections: conns, durationS: seconds, cpu: canPin ? LOAD_CPU : undefined, threads: 1 }) : autocannonLoad({ url, connections: conns, durationS: seconds });

  /** idle, loadIdle: the idle share of the proxy's core and of the load core (wrk, origin) in the measured run. */
  interface Sample { rps: number; p50: number; p99: number; cpuUs: number; errors: number; idle: number; loadIdle: number }
  // Where a Bun process's CPU goes, by thread (the JS thread, the JIT, GC and allocator helpers).
  const BY_THREAD = new Set([ONE_WORKER, "bare Bun.listen relay probe (floor)"]);
  const byThread = new Map<string, { main: number; jit: number; other: number }[]>([...BY_THREAD].map((n) => [n, []]));
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Every other round in reverse order: a drift of the host's speed during a round favours no side.
    for (const t of round % 2 === 1 ? targets : [...targets].reverse()) {
      await load(t.url, CONNS, WARM_S);
      const c0 = cpuTicks(t.pid);
      const k0 = coreTicks();
      const th0 = BY_THREAD.has(t.name) ? threadCpuTicks(t.pid) : undefined;
      const r = await load(t.url, CONNS, RUN_S);
      const c1 = cpuTicks(t.pid);
      const k1 = coreTicks();
      if (th0 !== undefined) {
        const th1 = threadCpuTicks(t.pid);
        const us = (a: number, b: number) => ((b - a) / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests);
        byThread.get(t.name)!.push({ main: us(th0.main, th1.main), jit: us(th0.jit, th1.jit), other: us(th0.other, th1.other) });
      }
      const cpuUs = ((c1 - c0) / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests);
      samples.get(t.name)!.push({ rps: r.rps, p50: r.p50ms, p99: r.p99ms, cpuUs, errors: r.errors + r.non2xx, idle: idleShare(k0, k1, PROXY_CPU), loadIdle: idleShare(k0, k1, LOAD_CPU) });
      console.log(`round ${round} ${t.name.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} rps  p50 ${r.p50ms.toFixed(3)} ms  p99 ${r.p99ms.toFixed(3)} ms  ${cpuUs.toFixed(1)} µs/req (${t.cpuOf})  errors ${r.errors + r.non2xx}`);
    }
  }

  // Where each saturated proxy's CPU goes (perf, by DSO): the kernel's share per request is the same for all.
  const SPLIT = new Set([ONE_WORKER, "nginx (1 process, keepalive 64)", "haproxy (nbthread 1)", "bare Bun.listen relay probe (floor)"]);
  const splitMd = await cpuSplitTable(targets.filter((t) => SPLIT.has(t.name)).map((t) => ({ name: t.name, url: t.url, pid: t.pid, cpuUs: Math.min(...samples.get(t.name)!.map((s) => s.cpuUs)) })), (url, s) => load(url, CONNS, s), dir);

  // One connection: the latency one hop adds, without queueing.
  const single = new Map<string, LoadResult>();
  for (const t of targets) {
    await load(t.url, 1, 1);
    single.set(t.name, await load(t.url, 1, 3));
  }

  // autocannon (the project's declared load tool), one pass; pinned to the load core.
  if (canPin) Bun.spawnSync(["taskset", "-p", "-c", String(LOAD_CPU), String(process.pid)]);
  const ac = new Map<string, LoadResult>();
  for (const t of targets) ac.set(t.name, await autocannonLoad({ url: t.url, connections: CONNS, durationS: 3 }));

  const med = (name: string, k: keyof Sample) => median(samples.get(name)!.map((s) => s[k]));
  const nginxName = targets.find((t) => t.name.startsWith("nginx"))?.name;
  const nginxRps = nginxName ? med(nginxName, "rps") : NaN;
  const spread = (name: string) => {
    const xs = samples.get(name)!.map((s) => s.rps);
    return `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
  };
  const loadBoundRounds = (name: string) => samples.get(name)!.filter((x) => loadBound(x.idle, x.loadIdle)).length;
  const minCpu = (name: string) => Math.min(...samples.get(name)!.map((s) => s.cpuUs));
  const nginxCpu = nginxName ? minCpu(nginxName) : NaN;
  const rows = targets.map((t) => [
    t.name,
    Math.round(med(t.name, "rps")),
    spread(t.name),
    Number.isNaN(nginxRps) ? "n/a" : `${(med(t.name, "rps") / nginxRps).toFixed(2)}×`,
    med(t.name, "p50").toFixed(3),
    med(t.name, "p99").toFixed(3),
    `${med(t.name, "cpuUs").toFixed(1)}${t.cpuOf === "origin" ? " (origin)" : ""}`,
    minCpu(t.name).toFixed(1),
    t.cpuOf === "origin" || Number.isNaN(nginxCpu) ? "n/a" : `${(nginxCpu / minCpu(t.name)).toFixed(2)}×`,
    t.cpuOf === "origin" || !canPin ? "n/a" : idleCell(med(t.name, "idle"), med(t.name, "loadIdle")) + (loadBoundRounds(t.name) * 2 > ROUNDS ? " load-bound" : ""),
    single.get(t.name)!.p50ms.toFixed(3),
    Math.round(ac.get(t.name)!.rps),
    samples.get(t.name)!.reduce((a, s) => a + s.errors, 0),
  ]);
  const head = ["path", `rps (${useWrk ? "wrk" : "autocannon"}, ${CONNS} conns, median of ${ROUNDS})`, "rps spread", "× nginx", "p50 ms", "p99 ms", "CPU µs/req", "CPU µs/req (min)", "CPU-bound × nginx", "idle % proxy core / load core", "p50 ms @1 conn", "rps (autocannon, 3 s)", "errors"];
  const md = table(head, rows);
  console.log(`\n${md}\n`);

  const info = machineInfo();
  const gwNames = targets.filter((t) => t.name.startsWith("gateway")).map((t) => t.name);
  const best = gwNames.map((n) => ({ n, ratio: med(n, "rps") / nginxRps, cpuRatio: nginxCpu / minCpu(n) })).sort((a, b) => b.cpuRatio - a.cpuRatio)[0];
  // PAIRED: the pooled gateway and nginx are measured next to each other in every round; the median of the
  // per-round ratios is the figure least moved by the host's drift between rounds.
  const pooledName = ONE_WORKER;
  const paired = nginxName && samples.has(pooledName) ? samples.get(pooledName)!.map((g, i) => ({ cpu: samples.get(nginxName)![i].cpuUs / g.cpuUs, rps: g.rps / samples.get(nginxName)![i].rps })) : [];
  const pairedLine = paired.length === 0 ? "" : `Per-round pairs (the pooled gateway and nginx measured next to each other, order alternating): CPU ${paired.map((p) => p.cpu.toFixed(2)).join(" / ")} → **${median(paired.map((p) => p.cpu)).toFixed(2)}× nginx** (median), rps ${paired.map((p) => p.rps.toFixed(2)).join(" / ")} → **${median(paired.map((p) => p.rps)).toFixed(2)}×**.`;
  console.log(pairedLine);
  writeSection("gateway", `## Gateway proxy path vs nginx, haproxy, fastify

Command: \`bun run bench gateway\` (bench/gateway.bench.ts). Every proxy forwards \`GET /api/bench\` to the same origin
(Bun.serve, 114-byte JSON, bench/peers/origin.ts). Layout: ${canPin ? `each proxy pinned to CPU ${PROXY_CPU}; wrk (1 thread) and the origin on CPU ${LOAD_CPU}` : "no taskset: unpinned"}.
${ROUNDS} interleaved rounds (every other one in reverse order), ${WARM_S} s warm-up + ${RUN_S} s measured each; medians. CPU µs/req = utime+stime of the proxy process
from /proc over the measured run ÷ requests (the direct row shows the origin's own cost). Peers: nginx ${info.nginx.replace(/^nginx version: /, "")}
(master_process off, keepalive 64, bench/peers/nginx.conf.tmpl), ${info.haproxy.split(" - ")[0]} (nbthread 1, http-reuse always,
bench/peers/haproxy.cfg.tmpl), fastify + @fastify/http-proxy on Node ${info.node} (bench/peers/fastify-proxy.mjs). Tools: ${info.wrk}; autocannon 3 s pass.
The gateway runs with routing, round-robin balancing, active health checks, a request-header transformation, metrics and the
sampled access log on (edge rate limiting off: it is the edge's own figure). It adds X-Forwarded-For/-Proto/-Host, Forwarded,
X-Request-Id and traceparent upstream; nginx adds X-Forwarded-For/-Proto, haproxy X-Forwarded-For. The pooled-client variant
relays on the wire lane (the host's raw HTTP/1.1 front, plugins/gateway/proxy/wire-lane.ts); the fetch() variant takes the same
lane but sends each attempt through fetch() and writes the Response out.

${md}

Best gateway variant (by CPU per request): **${best ? `${best.n}: ${minCpu(best.n).toFixed(1)} vs nginx ${nginxCpu.toFixed(1)} µs/req = ${best.cpuRatio.toFixed(2)}× nginx CPU-bound` : "n/a"}**${best ? ` (rps median ratio in this run ${best.ratio.toFixed(2)}×)` : ""}; target ≥ 0.8×, goal ≥ 1.0×.
${pairedLine}
Each proxy is pinned to one core; the idle column (medians; /proc/stat) says whether it saturated it. A row marked
load-bound had its core idle while the load core (wrk and the origin) was saturated in most rounds: its rps is the load
side's limit, not the proxy's, and only its CPU per request compares. The
CPU-bound ratio (nginx's least-disturbed CPU µs/req over X's) is the steadier figure on this shared machine;
the rps ratio moves with whatever else runs during a round. Two bare probes show the floors: bench/peers/bun-raw-probe.ts
(Bun.listen relaying bytes to a keep-alive Bun.connect pool, nothing else: the floor of the wire lane) and
bench/peers/bun-pooled-probe.ts (Bun.serve + the same pool: the floor of a Bun.serve front, which the gateway used before the wire lane).

CPU per request by thread (median of the rounds; the JS thread runs the event loop, the JS and the syscalls; the rest is
the JIT compiler and the GC/allocator helper threads): ${threadLine(byThread)}.

Where the CPU goes (perf cpu-clock samples by DSO over 3 s of the same load, after the rounds; µs/req from each one's
least-disturbed round, as the CPU-bound column). Each proxy moves the same four TCP segments per request (4.0–4.2 in /proc/net/snmp on 2026-12-06), so the kernel's
µs/req comes out alike; "everything else" is what each one's own code costs, and the bare probe's is Bun's floor (event loop, sockets, the calls
into JS) with no gateway work at all.

${splitMd}

Workers: the "workers: 2" row is \`host.workers: 2\` (a supervisor and two gateway processes on the port, SO_REUSEPORT), not
pinned: on this 2-core machine wrk and the origin share its cores, so its rps says little; its CPU µs/req (all
processes of the tree) against the 1-worker row is the scaling cost. ${scalingLine(med, minCpu, targets.map((t) => t.name), loadStart)}
`);
} finally {
  for (const t of targets) await t.stop().catch(() => undefined);
  await stopProc(origin);
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
