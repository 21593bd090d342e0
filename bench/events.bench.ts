/**
 * Events plugin throughput and latency.
 *
 *   bun run bench events
 *
 * Servers run as child processes pinned to CPU 1 (taskset), the load generator (wrk) on CPU 0; Redis is
 * a private redis-server started by the bench, pinned to CPU 0 with wrk (BENCH_REDIS_URL to use another). Interleaved rounds (A B C × 3):
 *   A  bare Elysia JSON POST handler (the peer: parse JSON, answer 201)  — same runtime, same framework
 *   B  POST /events single event, Redis Streams store (validation + the XADDs of one event-loop turn in one script call)
 *   C  POST /events single event, embedded bun:sqlite store (WAL, synchronous=NORMAL)
 * then batch publishing (500 events per POST, Redis and embedded) and publish→subscriber latency at
 * 1,000 events/s over SSE (Redis store). CPU µs/request of the server process from /proc.
 */
import { Elysia } from "elysia";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { wrkLoad, cpuTicks, TICKS_PER_SECOND, median, waitForUrl, hasCommand, type LoadResult } from "./lib/measure";
import { table, writeSection } from "./lib/results";

// Child mode: the bare Elysia peer.
const peerIdx = Bun.argv.indexOf("--peer-elysia");
if (peerIdx > 0) {
  const port = Number(Bun.argv[peerIdx + 1]);
  new Elysia().post("/events", ({ body }) => new Response(JSON.stringify({ ok: true, type: (body as any)?.type }), { status: 201, headers: { "content-type": "application/json" } })).listen({ port, hostname: "127.0.0.1" });
  await new Promise(() => {});
}

// A private redis-server (no other engineer's traffic in it), unless BENCH_REDIS_URL names one.
let redisProc: ReturnType<typeof Bun.spawn> | undefined;
let REDIS_URL = process.env.BENCH_REDIS_URL ?? "";
const ROUNDS = 3;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const WARM_S = 2;
/** Other engineers benchmark on the same 2 cores: wait (bounded) for a quieter machine before measuring. */
async function waitQuiet(maxWaitS = 45): Promise<number> {
  const load = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  const deadline = Date.now() + maxWaitS * 1000;
  while (load() > 2.5 && Date.now() < deadline) await Bun.sleep(1000);
  return load();
}
const loads: number[] = [];
const pin = (cpu: number, cmd: string[]) => (hasCommand("taskset") ? ["taskset", "-c", String(cpu), ...cmd] : cmd);
const freePort = () => { const s = Bun.serve({ port: 0, fetch: () => new Response() }); const p = s.port!; s.stop(true); return p; };

const dir = mkdtempSync(join(tmpdir(), "tradpal-bench-events-"));
const stream = `bench_events_${process.pid}`;
const single = JSON.stringify({ type: "market.data_update", payload: { symbol: "BTC/USDT", price: 97000.5, volume: 1.25 } });
const BATCH = 500;
const batch = JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => ({ type: "market.data_update", payload: { symbol: "BTC/USDT", price: 97000 + i, volume: 1 } })) });

interface Server { name: string; url: string; pid: number; stop(): void }

async function startEvents(name: string, redisUrl: string): Promise<Server> {
  const port = freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, `host:\n  data_dir: ${join(dir, name)}\n  redis_url: "${redisUrl}"\n  log_level: warn\nplugins:\n  events:\n    port: ${port}\n    hostname: 127.0.0.1\n    stream: ${stream}\n    max_batch: 1000\n    max_len: 2000000\n`);
  const p = Bun.spawn(pin(1, ["bun", "run", join(import.meta.dir, "../src/main.ts"), "--config", cfg, "--only", "events"]), { stdout: "ignore", stderr: "inherit", env: { ...process.env, REDIS_URL: redisUrl } });
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(`${url}/health`);
  return { name, url, pid: p.pid, stop: () => p.kill() };
}

async function startPeer(): Promise<Server> {
  const port = freePort();
  const p = Bun.spawn(pin(1, ["bun", "run", import.meta.path, "--peer-elysia", String(port)]), { stdout: "ignore", stderr: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(url);
  return { name: "bare Elysia JSON POST (peer)", url, pid: p.pid, stop: () => p.kill() };
}

async function measure(s: Server, body: string, connections: number): Promise<LoadResult & { cpuUs: number; redisCpuUs: number }> {
  await wrkLoad({ url: `${s.url}/events`, method: "POST", body, connections, durationS: WARM_S, cpu: 0 });
  const t0 = cpuTicks(s.pid);
  const r0 = redisProc ? cpuTicks(redisProc.pid) : 0;
  const r = await wrkLoad({ url: `${s.url}/events`, method: "POST", body, connections, durationS: DURATION_S, cpu: 0 });
  const per = (ticks: number) => ((ticks / TICKS_PER_SECOND) * 1e6) / Math.max(1, r.requests);
  return { ...r, cpuUs: per(cpuTicks(s.pid) - t0), redisCpuUs: redisProc ? per(cpuTicks(redisProc.pid) - r0) : NaN };
}

/** Publish at `rate`/s for `seconds`, each event stamped; latency = SSE arrival − publish start. */
async function latencyRun(s: Server, rate: number, seconds: number): Promise<{ p50: number; p99: number; max: number; received: number; sent: number }> {
  const group = `lat_${Date.now()}`;
  const res = await fetch(`${s.url}/events/subscribe?group=${group}&consumer=c&types=custom.latency`);
  const reader = res.body!.getReader();
  const lat: number[] = [];
  const dec = new TextDecoder();
  let buf = "";
  let stop = false;
  const acks: string[] = [];
  const readLoop = (async () => {
    while (!stop) {
      const { done, value } = await reader.read();
      if (done) break;
      const now = performance.now();
      buf += dec.decode(value, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const d = block.split("\n").find((l) => l.startsWith("data: "));
        if (!d) continue;
        const e = JSON.parse(d.slice(6));
        lat.push(now - e.payload.t);
        acks.push(e.streamId);
      }
    }
  })();
  await Bun.sleep(200);
  const total = rate * seconds;
  const started = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0.5) await Bun.sleep(wait);
    inflight.push(fetch(`${s.url}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "custom.latency", payload: { t: performance.now(), i } }) }).then((r) => r.arrayBuffer()));
    if (acks.length >= 200) void fetch(`${s.url}/events/ack`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ group, ids: acks.splice(0) }) });
  }
  await Promise.all(inflight);
  const deadline = Date.now() + 3000;
  while (lat.length < total && Date.now() < deadline) await Bun.sleep(10);
  stop = true;
  await reader.cancel().catch(() => {});
  await readLoop.catch(() => {});
  const sorted = [...lat].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return { p50: pct(50), p99: pct(99), max: sorted[sorted.length - 1], received: lat.length, sent: total };
}

const servers: Server[] = [];
// Killed (timeout, Ctrl-C): stop the children too.
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => { for (const s of servers) s.stop(); redisProc?.kill(); process.exit(130); });

/** BENCH_ONLY=latency: stop after the latency segment (quick check; RESULTS.md untouched). */
class LatencyOnly extends Error {}

try {
  if (!REDIS_URL) {
    const port = freePort();
    // Pinned to CPU 0 with wrk: CPU 1 stays the server's alone, as in the peer's rounds (unpinned, the
    // scheduler put redis-server on the server's core part of the time). Its CPU is reported separately.
    redisProc = Bun.spawn(pin(0, ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"]), { stdout: "ignore", stderr: "ignore" });
    REDIS_URL = `redis://127.0.0.1:${port}`;
    console.log(`private redis-server on ${port}`);
    for (let i = 0; i < 100; i++) { try { const c = new Redis(REDIS_URL, { lazyConnect: true, retryStrategy: () => null }); c.on("error", () => {}); await c.connect(); c.disconnect(); break; } catch { await Bun.sleep(50); } }
  }
  if (!hasCommand("wrk")) throw new Error("wrk is required for this benchmark (apt-get install wrk)");
  const peer = await startPeer();
  const redisEv = await startEvents("redis", REDIS_URL);
  const embedded = await startEvents("embedded", "");
  servers.push(peer, redisEv, embedded);
  for (const s of servers) { const r = await fetch(`${s.url}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: single }); if (r.status !== 201) throw new Error(`${s.name} answered ${r.status}`); }

  // Latency first, on idle servers (the throughput rounds leave queues behind on a loaded machine).
  loads.push(await waitQuiet());
  const lat = await latencyRun(redisEv, 1000, 10);
  loads.push(await waitQuiet());
  const latEmb = await latencyRun(embedded, 1000, 5);
  console.log("latency redis", lat, "embedded", latEmb);

  type M = LoadResult & { cpuUs: number; redisCpuUs: number };
  const singles: Record<string, M[]> = {};
  const batches: Record<string, M[]> = {};
  if (process.env.BENCH_ONLY === "latency") throw new LatencyOnly();
  for (let round = 0; round < ROUNDS; round++) {
    loads.push(await waitQuiet());
    for (const s of servers) {
      const r = await measure(s, single, 64);
      (singles[s.name] ??= []).push(r);
      console.log(`round ${round + 1} single ${s.name}: ${Math.round(r.rps)} rps, p99 ${r.p99ms.toFixed(2)} ms, ${r.cpuUs.toFixed(1)} µs CPU/req, non2xx ${r.non2xx}, errors ${r.errors}`);
    }
    for (const s of [redisEv, embedded]) {
      const r = await measure(s, batch, 8);
      (batches[s.name] ??= []).push(r);
      console.log(`round ${round + 1} batch ${s.name}: ${Math.round(r.rps * BATCH)} events/s, non2xx ${r.non2xx}`);
    }
  }

  const med = (xs: M[], f: (r: M) => number) => median(xs.map(f));
  const peerRps = med(singles[peer.name], (r) => r.rps);
  const rows = servers.map((s) => {
    const rps = med(singles[s.name], (r) => r.rps);
    return [s.name === peer.name ? s.name : `POST /events single, ${s.name} store`, Math.round(rps), (rps / peerRps).toFixed(2), med(singles[s.name], (r) => r.p99ms).toFixed(2), med(singles[s.name], (r) => r.cpuUs).toFixed(1), s === redisEv ? med(singles[s.name], (r) => r.redisCpuUs).toFixed(1) : "-", singles[s.name].map((r) => Math.round(r.rps)).join(" / "), singles[s.name].reduce((a, r) => a + r.non2xx + r.errors, 0)];
  });
  const batchRows = [redisEv, embedded].map((s) => {
    const eps = med(batches[s.name], (r) => r.rps * BATCH);
    return [`POST /events batch of ${BATCH}, ${s.name} store (8 conns)`, Math.round(eps), (med(batches[s.name], (r) => r.cpuUs) / BATCH).toFixed(2), batches[s.name].map((r) => Math.round(r.rps * BATCH)).join(" / "), batches[s.name].reduce((a, r) => a + r.non2xx + r.errors, 0)];
  });
  const redisRatio = med(singles[redisEv.name], (r) => r.rps) / peerRps;
  const cpuRatio = (name: string) => med(singles[peer.name], (r) => r.cpuUs) / med(singles[name], (r) => r.cpuUs);
  const embRps = med(singles[embedded.name], (r) => r.rps);
  const md = `
Command: \`bun run bench events\` · servers pinned to CPU 1 (\`taskset -c 1\`), wrk on CPU 0 (1 thread, 64 connections, ${DURATION_S} s after ${WARM_S} s warm-up), ${ROUNDS} interleaved rounds, medians. Redis: ${redisProc ? "a private redis-server 7.0 started by the bench (appendonly no, pinned to CPU 0 with wrk so CPU 1 is the server's alone, as for the peer)" : REDIS_URL}. Body: one market.data_update event (${single.length} bytes).

**Single-event publish vs a bare Elysia JSON POST handler (peer, same run)**

${table(["server", "rps (median)", "ratio to peer", "p99 ms", "CPU µs/req (server)", "CPU µs/req (redis-server)", "rounds", "non-2xx+errors"], rows)}

Target: Redis-backed POST /events ≥ 0.7× the peer → **${redisRatio.toFixed(2)}×** in rps (${redisRatio >= 0.7 ? "met" : "not met"}); by server CPU per request (steadier on a shared machine) ${cpuRatio(redisEv.name).toFixed(2)}× (embedded ${cpuRatio(embedded.name).toFixed(2)}×). The Redis case also costs redis-server CPU (column above, on CPU 0 with wrk), not counted in the server's. Embedded store ≥ 20k single events/s → **${Math.round(embRps)}/s** (${embRps >= 20_000 ? "met" : "not met"}).

**Batch publishing (atomic per batch)**

${table(["path", "events/s (median)", "server CPU µs/event", "rounds", "non-2xx+errors"], batchRows)}

Target ≥ 100k events/s (Redis) → **${Math.round(med(batches[redisEv.name], (r) => r.rps * BATCH))}/s**.

**Publish → SSE subscriber latency at 1,000 events/s** (one publisher, fetch per event; latency = arrival in the subscriber − before the POST, same process clock)

${table(["store", "events", "p50 ms", "p99 ms", "max ms"], [["redis", `${lat.received}/${lat.sent}`, lat.p50.toFixed(2), lat.p99.toFixed(2), lat.max.toFixed(2)], ["embedded", `${latEmb.received}/${latEmb.sent}`, latEmb.p50.toFixed(2), latEmb.p99.toFixed(2), latEmb.max.toFixed(2)]])}

Target p99 ≤ 5 ms → **${lat.p99.toFixed(2)} ms** (${lat.p99 <= 5 ? "met" : "not met"}).

1-minute load average before each measured segment (other engineers' runs share the machine; the script waits up to 45 s for < 2.5): ${loads.map((l) => l.toFixed(1)).join(", ")}.

Reference (issue text, ioredis alone): XADD one at a time ~14k/s; auto-pipelined from 64 publishers ~175k/s; XREADGROUP+XACK in batches of 100 ~220k/s.
`;
  console.log(md);
  writeSection("events", md);
} catch (err) {
  if (!(err instanceof LatencyOnly)) throw err;
} finally {
  for (const s of servers) s.stop();
  const r = new Redis(REDIS_URL);
  await r.del(stream, `{${stream}}:dlq`, `{${stream}}:types`).catch(() => {});
  r.disconnect();
  redisProc?.kill();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
