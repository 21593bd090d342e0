/**
 * Events plugin throughput and latency, beside two peers measured in the same run.
 *
 *   bun run bench events        (BENCH_ROUNDS, BENCH_DURATION_S, BENCH_WAIT_S, BENCH_AOF_REWRITE=auto; BENCH_ONLY=latency|nats|single for a quick check,
 *                                RESULTS.md untouched (single: only the wrk single-publish rounds); BENCH_BASELINE=<rev> adds that commit's plugin as "before" servers, BENCH_AFTER=<rev>
 *                                runs the servers under test from a commit too: bench/lib/baseline.ts)
 *
 * Servers run as child processes pinned to CPU 1 (taskset), the load generators on CPU 0; Redis is a private
 * redis-server started by the bench (appendonly yes, appendfsync everysec: an acknowledged event survives a
 * crash of redis-server, as JetStream's and the embedded store's do), pinned to CPU 0 with the load
 * (BENCH_REDIS_URL to use another). Interleaved rounds, each:
 *   wrk (1 thread, CPU 0) against
 *     A  a bare Elysia JSON POST handler (the peer: parse JSON, answer 201) — same runtime, same framework
 *     B  POST /events single event, Redis Streams store      C  the same, embedded bun:sqlite store (WAL)
 *     and batches of 500 on B and C;
 *   one client process (bench/peers/nats-load.ts, CPU 0), the same publishes in flight on each side, against
 *     ours (plain fetch and the typed EventClient) and NATS JetStream (file storage, acknowledged publishes;
 *     bench/peers/nats-stream.ts): single publishes (64 in flight), batches of 100 and 500 (8 in flight).
 * Publish → consumer latency at 1,000 events/s: ours over SSE (raw and the typed subscriber) vs a durable
 * JetStream pull consumer with explicit acks (bench/peers/nats-latency.ts), each case warmed up once (3 s,
 * unmeasured) first. For this section our servers and redis-server may run on both cores, as nats-server
 * does: pinned, each hop's wake-up waits for whatever else runs on its one core (the Redis round trip was
 * the largest part of our tail with redis-server on CPU 0). CPU µs of the servers from /proc.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { wrkLoad, cpuTicks, TICKS_PER_SECOND, median, waitForUrl, hasCommand } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { jetstreamLatency, sseLatency, subscriberLatency, type LatencyOut } from "./peers/nats-latency";
import { createBenchStream, natsServerPid, NATS_URL, type BenchStream } from "./peers/nats-stream";
import { compareSection, ratioOf, runCase, type Case, type Sample } from "./peers/nats-compare";
import { exportTree } from "./lib/baseline";
import { coreTicks, idleShare } from "./lib/core-idle";
import { loadBoundRounds, roundLine, singleSection, type SingleRun } from "./lib/events-single";
import { aofRewrites, compactAof, freePort, setAffinity, startEventsServer, startPrivateRedis, type EventsServer, type GcCount } from "./lib/events-servers";

// A private redis-server (no other engineer's traffic in it), unless BENCH_REDIS_URL names one.
let redisProc: ReturnType<typeof Bun.spawn> | undefined;
let REDIS_URL = process.env.BENCH_REDIS_URL ?? "";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** The private redis-server's AOF is compacted between measured rounds (compactAof); BENCH_AOF_REWRITE=auto leaves it to Redis. */
const AOF_MANUAL = process.env.BENCH_AOF_REWRITE !== "auto";
const NO_REWRITES = { forks: 0, rewriting: false };
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const WARM_S = 2;
const LAT_WARM_S = 3;
/** Other engineers benchmark on the same 2 cores: wait (bounded) for a quieter machine before measuring. */
async function waitQuiet(maxWaitS = Number(process.env.BENCH_WAIT_S ?? 45)): Promise<number> {
  const load = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  const deadline = Date.now() + maxWaitS * 1000;
  while (load() > 2.5 && Date.now() < deadline) await Bun.sleep(1000);
  return load();
}
const loads: number[] = [];
/** The machine's shared nats-server: its CPU inside each single-publish round is logged (it runs on both cores). */
const NATS_PID = natsServerPid();
const pin = (cpu: number, cmd: string[]) => (hasCommand("taskset") ? ["taskset", "-c", String(cpu), ...cmd] : cmd);

const dir = mkdtempSync(join(tmpdir(), "tradpal-bench-events-"));
const stream = `bench_events_${process.pid}`;
const single = JSON.stringify({ type: "market.data_update", payload: { symbol: "BTC/USDT", price: 97000.5, volume: 1.25 } });
const BATCH = 500;
const batch = JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => ({ type: "market.data_update", payload: { symbol: "BTC/USDT", price: 97000 + i, volume: 1 } })) });

type Server = EventsServer;

/** `root`: a checkout to run (a BENCH_BASELINE export for the "before" servers). GCs counted for the latency table. */
const startEvents = (name: string, redisUrl: string, root?: string): Promise<Server> =>
  startEventsServer({ name, redisUrl, dir, stream, pin, cpu: 1, root, countGc: true });

async function startPeer(): Promise<Server> {
  const port = freePort();
  const p = Bun.spawn(pin(1, ["bun", "run", join(import.meta.dir, "peers", "elysia-events-peer.ts"), String(port)]), { stdout: "ignore", stderr: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(url);
  return { name: "bare Elysia JSON POST (peer)", url, pid: p.pid, stop: () => p.kill() };
}

async function measure(s: Server, body: string, connections: number): Promise<M> {
  if (redisProc && AOF_MANUAL) await compactAof(REDIS_URL);
  await wrkLoad({ url: `${s.url}/events`, method: "POST", body, connections, durationS: WARM_S, cpu: 0 });
  const a = redisProc ? await aofRewrites(REDIS_URL) : NO_REWRITES;
  const t0 = cpuTicks(s.pid);
  const r0 = redisProc ? cpuTicks(redisProc.pid) : 0;
  const c0 = coreTicks();
  const n0 = NATS_PID ? cpuTicks(NATS_PID) : NaN;
  const r = await wrkLoad({ url: `${s.url}/events`, method: "POST", body, connections, durationS: DURATION_S, cpu: 0 });
  const c1 = coreTicks();
  const per = (ticks: number) => ((ticks / TICKS_PER_SECOND) * 1e6) / Math.max(1, r.requests);
  const cpuUs = per(cpuTicks(s.pid) - t0), redisCpuUs = redisProc ? per(cpuTicks(redisProc.pid) - r0) : NaN;
  const b = redisProc ? await aofRewrites(REDIS_URL) : NO_REWRITES;
  return { ...r, cpuUs, redisCpuUs, aofRewrite: a.rewriting || b.rewriting || b.forks > a.forks, serverIdle: idleShare(c0, c1, 1), loadIdle: idleShare(c0, c1, 0), natsCpuMs: NATS_PID ? (cpuTicks(NATS_PID) - n0) * (1000 / TICKS_PER_SECOND) : NaN };
}

const servers: Server[] = [];
let nats: BenchStream | undefined;
// Killed (timeout, Ctrl-C): stop the children too.
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => { for (const s of servers) s.stop(); redisProc?.kill(); void nats?.delete().finally(() => process.exit(130)); setTimeout(() => process.exit(130), 2000); });

/** BENCH_ONLY=latency|nats: stop after that segment; single: only the wrk single-publish rounds (quick checks; RESULTS.md untouched). */
class QuickCheck extends Error {}

type M = SingleRun;
/** One round of single publishes (wrk, 64 connections) on each of `all`, in order, into `into`. */
async function singleRound(round: number, all: Server[], into: Record<string, M[]>): Promise<void> {
  for (const s of all) {
    const r = await measure(s, single, 64);
    (into[s.name] ??= []).push(r);
    console.log(roundLine(`round ${round + 1} single ${s.name}`, r, s === all[0] || s.name.startsWith("embedded")));
  }
}

/** BENCH_ONLY=single: only the single-publish rounds of the full run (same servers, order and medians), printed. */
async function singleRoundsOnly(all: Server[]): Promise<never> {
  const runs: Record<string, M[]> = {};
  for (let round = 0; round < ROUNDS; round++) { loads.push(await waitQuiet()); await singleRound(round, all, runs); }
  const rps = (s: Server) => median(runs[s.name].map((r) => r.rps));
  const cpu = (s: Server) => median(runs[s.name].map((r) => r.cpuUs));
  for (const s of all.slice(1)) console.log(`${s.name}: ${(rps(s) / rps(all[0])).toFixed(2)}× the peer by rps, ${(cpu(all[0]) / cpu(s)).toFixed(2)}× by server CPU (${cpu(s).toFixed(1)} vs ${cpu(all[0]).toFixed(1)} µs/req), load-bound in ${loadBoundRounds(runs[s.name])} of ${runs[s.name].length} rounds; loads ${loads.map((l) => l.toFixed(1)).join(", ")}`);
  throw new QuickCheck();
}

try {
  if (!REDIS_URL) {
    // Pinned to CPU 0 with wrk: CPU 1 stays the server's alone, as in the peer's rounds (unpinned, the
    // scheduler put redis-server on the server's core part of the time). Its CPU is reported separately.
    const r = await startPrivateRedis(dir, pin, 0);
    redisProc = r.proc;
    REDIS_URL = r.url;
    // Its AOF is compacted between measured rounds, not inside them (compactAof; BENCH_AOF_REWRITE=auto: Redis' own timing).
    if (AOF_MANUAL) await compactAof(REDIS_URL);
    console.log(`private redis-server at ${REDIS_URL}${AOF_MANUAL ? " (AOF rewrites between rounds)" : ""}`);
  }
  if (!hasCommand("wrk")) throw new Error("wrk is required for this benchmark (apt-get install wrk)");
  const peer = await startPeer();
  // BENCH_AFTER=<rev>: the servers under test from that commit (the shared checkout holds others' uncommitted work).
  const afterRoot = process.env.BENCH_AFTER ? exportTree(process.env.BENCH_AFTER, dir, "after").root : undefined;
  const redisEv = await startEvents("redis", REDIS_URL, afterRoot);
  const embedded = await startEvents("embedded", "", afterRoot);
  servers.push(peer, redisEv, embedded);
  // BENCH_BASELINE=<rev>: the plugin before a change, beside the current one in the same rounds.
  const baseline = process.env.BENCH_BASELINE ? exportTree(process.env.BENCH_BASELINE, dir, "baseline") : undefined;
  const before = baseline ? [await startEvents(`redis ${baseline.label}`, REDIS_URL, baseline.root), await startEvents(`embedded ${baseline.label}`, "", baseline.root)] : [];
  servers.push(...before);
  for (const s of servers) { const r = await fetch(`${s.url}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: single }); if (r.status !== 201) throw new Error(`${s.name} answered ${r.status}`); }

  if (process.env.BENCH_ONLY === "single") await singleRoundsOnly(servers);
  nats = await createBenchStream(stream, 2_000_000);
  const natsPid = natsServerPid();
  const redisPids = redisProc ? [redisEv.pid, redisProc.pid] : [redisEv.pid];

  // Latency first, on idle servers (the throughput rounds leave queues behind on a loaded machine); the
  // sides alternate so a noisy stretch of the machine hits both.
  // Each case with the server whose CPU it costs (ticks from /proc over the 5 s run, per event sent).
  const latency: Record<string, (LatencyOut & { cpuUs: number; gc?: GcCount })[]> = {};
  const gcOf = new Map<number, GcCount>(servers.flatMap((s) => (s.gc ? [[s.pid, s.gc] as [number, GcCount]] : [])));
  const OWN_CLIENTS = "ours, Redis store, typed EventClient → typed EventSubscriberClient";
  // The default store with our clients at both ends: one process between publisher and subscriber, as nats-server is.
  const OWN_CLIENTS_EMBEDDED = "ours, embedded store (the default), typed EventClient → typed EventSubscriberClient";
  type LatCase = [string, (seconds: number) => Promise<LatencyOut>, number | undefined];
  const latCases: LatCase[] = [
    ["ours, Redis store, SSE", (s) => sseLatency(redisEv.url, 1000, s), redisEv.pid],
    ["NATS JetStream, pull consumer", (s) => jetstreamLatency(NATS_URL, stream, 1000, s), natsPid],
    ["ours, embedded store, SSE", (s) => sseLatency(embedded.url, 1000, s), embedded.pid],
    ["ours, Redis store, typed EventSubscriberClient", (s) => subscriberLatency(redisEv.url, 1000, s), redisEv.pid],
    [OWN_CLIENTS, (s) => subscriberLatency(redisEv.url, 1000, s, "client"), redisEv.pid],
    [OWN_CLIENTS_EMBEDDED, (s) => subscriberLatency(embedded.url, 1000, s, "client"), embedded.pid],
    // BENCH_BASELINE: the same consumers of the "before" servers, in the same rounds.
    ...before.flatMap((b): LatCase[] => [
      [`ours, ${b.name}, SSE`, (s) => sseLatency(b.url, 1000, s), b.pid],
      ...(b.name.startsWith("redis") ? [[`ours, ${b.name}, typed EventSubscriberClient`, (s: number) => subscriberLatency(b.url, 1000, s), b.pid] as LatCase] : []),
    ]),
  ];
  // Both cores for ours during this section, as nats-server has them (see the header); pinned again after.
  const ours = [redisEv, embedded, ...before];
  const place = (cpus: { server: string; redis: string }) => {
    for (const s of ours) setAffinity(s.pid, cpus.server);
    if (redisProc) setAffinity(redisProc.pid, cpus.redis);
  };
  place({ server: "0,1", redis: "0,1" });
  // A fresh server (and this process's client code) compiles its paths in the first seconds: not measured.
  // At 1,000 events/s JSC's optimizing tiers come seconds in (an FTL compile of the head parser took 42 ms).
  for (const [, run] of latCases) await run(LAT_WARM_S);
  for (let round = 0; round < ROUNDS; round++) {
    // Every other round in reverse: no case always runs first (after the previous round's disk writes) or last.
    for (const [name, run, pid] of round % 2 ? [...latCases].reverse() : latCases) {
      loads.push(await waitQuiet());
      const t0 = pid ? cpuTicks(pid) : 0;
      const g = pid !== undefined ? gcOf.get(pid) : undefined;
      const g0 = g && { ...g };
      const out = await run(5);
      const gc = g && g0 && { eden: g.eden - g0.eden, full: g.full - g0.full, pauseMs: g.pauseMs - g0.pauseMs };
      const l = { ...out, cpuUs: pid ? (((cpuTicks(pid) - t0) / TICKS_PER_SECOND) * 1e6) / out.sent : NaN, gc };
      (latency[name] ??= []).push(l);
      console.log(`round ${round + 1} latency ${name}: p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} ms, ${l.received}/${l.sent}, server ${l.cpuUs.toFixed(1)} µs CPU/event${gc ? `, ${gc.eden} eden + ${gc.full} full GCs (${gc.pauseMs.toFixed(1)} ms)` : ""}`);
    }
  }
  if (process.env.BENCH_ONLY === "latency") throw new QuickCheck();
  place({ server: "1", redis: "0" });

  // Acknowledged publishes from one client process: ours vs JetStream, same in-flight count.
  const cases: Case[] = [];
  for (const [kind, n, inflight] of [["single", 1, 64], ["batch100", 100, 8], ["batch500", 500, 8]] as const) {
    const label = n === 1 ? "single" : `batch of ${n}`;
    const js = `NATS JetStream, ${label}`;
    cases.push({ name: js, kind, spec: { target: "nats", natsUrl: NATS_URL, subject: nats.subject, batch: n, inflight }, pids: natsPid ? [natsPid] : [] });
    cases.push({ name: `ours Redis, fetch, ${label}`, kind, vs: js, spec: { target: "fetch", url: redisEv.url, batch: n, inflight }, pids: redisPids });
    cases.push({ name: `ours embedded, fetch, ${label}`, kind, vs: js, spec: { target: "fetch", url: embedded.url, batch: n, inflight }, pids: [embedded.pid] });
    if (n === 1) {
      const jsId = "NATS JetStream, single, Nats-Msg-Id";
      cases.push({ name: jsId, kind, spec: { target: "nats-msgid", natsUrl: NATS_URL, subject: nats.subject, batch: 1, inflight }, pids: natsPid ? [natsPid] : [] });
      cases.push({ name: "ours Redis, EventClient, single", kind, vs: jsId, spec: { target: "client", url: redisEv.url, batch: 1, inflight }, pids: redisPids });
      cases.push({ name: "ours embedded, EventClient, single", kind, vs: jsId, spec: { target: "client", url: embedded.url, batch: 1, inflight }, pids: [embedded.pid] });
      cases.push({ name: "ours Redis, EventClient (coalesce: false), single", kind, vs: jsId, spec: { target: "client-apart", url: redisEv.url, batch: 1, inflight }, pids: redisPids });
      cases.push({ name: "ours embedded, EventClient (coalesce: false), single", kind, vs: jsId, spec: { target: "client-apart", url: embedded.url, batch: 1, inflight }, pids: [embedded.pid] });
      for (const b of before) cases.push({ name: `ours ${b.name}, EventClient, single`, kind, vs: jsId, spec: { target: "client", url: b.url, batch: 1, inflight }, pids: b.name.startsWith("redis") ? [b.pid, ...redisPids.slice(1)] : [b.pid] });
    }
    if (n === 100) cases.push({ name: "ours Redis, EventClient, batch of 100", kind, vs: js, spec: { target: "client", url: redisEv.url, batch: n, inflight }, pids: redisPids });
  }
  const clientSamples = new Map<string, Sample[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      loads.push(await waitQuiet());
      const r = await runCase(c, WARM_S, DURATION_S, pin);
      (clientSamples.get(c.name) ?? clientSamples.set(c.name, []).get(c.name)!).push(r);
      console.log(`round ${round + 1} ${c.name}: ${Math.round(r.eventsPerS)} events/s, p99 ${r.p99ms.toFixed(2)} ms/op, server ${r.serverCpuUsPerEvent.toFixed(2)} µs/event, client ${r.clientCpuUsPerEvent.toFixed(2)} µs/event, errors ${r.errors}`);
    }
  }
  if (process.env.BENCH_ONLY === "nats") throw new QuickCheck();

  const singles: Record<string, M[]> = {};
  const batches: Record<string, M[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    loads.push(await waitQuiet());
    await singleRound(round, servers, singles);
    for (const s of [redisEv, embedded]) {
      const r = await measure(s, batch, 8);
      (batches[s.name] ??= []).push(r);
      console.log(`round ${round + 1} batch ${s.name}: ${Math.round(r.rps * BATCH)} events/s, non2xx ${r.non2xx}`);
    }
  }

  const med = (xs: M[], f: (r: M) => number) => median(xs.map(f));
  const batchRows = [redisEv, embedded].map((s) => {
    const eps = med(batches[s.name], (r) => r.rps * BATCH);
    return [`POST /events batch of ${BATCH}, ${s.name} store (8 conns)`, Math.round(eps), (med(batches[s.name], (r) => r.cpuUs) / BATCH).toFixed(2), batches[s.name].map((r) => Math.round(r.rps * BATCH)).join(" / "), batches[s.name].reduce((a, r) => a + r.non2xx + r.errors, 0)];
  });
  const latRows = latCases.map(([name]) => {
    const xs = latency[name];
    // Per 1,000 events sent: the events server's GCs (eden + full) and their summed pauses (ms).
    const gcs = xs.every((l) => l.gc) ? `${median(xs.map((l) => ((l.gc!.eden + l.gc!.full) * 1000) / l.sent)).toFixed(1)} (${median(xs.map((l) => (l.gc!.pauseMs * 1000) / l.sent)).toFixed(1)} ms)` : "-";
    return [name, xs.map((l) => `${l.received}/${l.sent}`).join(", "), median(xs.map((l) => l.p50)).toFixed(2), median(xs.map((l) => l.p99)).toFixed(2), xs.map((l) => l.p99.toFixed(2)).join(" / "), Math.max(...xs.map((l) => l.max)).toFixed(2), median(xs.map((l) => l.cpuUs)).toFixed(1), gcs];
  });
  const p99Of = (name: string) => median(latency[name].map((l) => l.p99));
  const r = (a: string, b: string) => ratioOf(clientSamples, a, b).toFixed(2);
  const md = `
Command: \`${["BENCH_BASELINE", "BENCH_AFTER", "BENCH_WAIT_S"].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]} `).join("")}bun run bench events\`${process.env.BENCH_AFTER ? ` (servers under test from commit ${process.env.BENCH_AFTER}, exported with git archive)` : ""} · servers pinned to CPU 1 (\`taskset -c 1\`), load generators on CPU 0, ${ROUNDS} interleaved rounds of ${DURATION_S} s after ${WARM_S} s warm-up, medians. Redis: ${redisProc ? "a private redis-server started by the bench (appendonly yes, appendfsync everysec: an acknowledged event survives a redis-server crash; pinned to CPU 0 with the load so CPU 1 is the server's alone; " + (AOF_MANUAL ? "its AOF compacted with BGREWRITEAOF, waited for, before each wrk measurement once it grew 16 MB, automatic rewrites off so that none runs inside a round (its child shares CPU 0 with wrk)" : "AOF rewrites left to Redis (BENCH_AOF_REWRITE=auto)") + ")" : REDIS_URL}. NATS: ${NATS_URL} (nats-server ${natsPid ? "of this machine, shared, not pinned: Go on both cores" : "not local"}), a stream of this run only (file storage, 1 replica, max_msgs 2M, deleted at the end). Body: one market.data_update event (${single.length} bytes).

**Acknowledged durable publishes: ours vs NATS JetStream from the same client process** (bench/peers/nats-load.ts on CPU 0; 64 single publishes in flight, 8 batches in flight; per op = one event or one batch; a JetStream "batch" is N publishes sent at once and all N acks awaited, nats.js has no atomic batch; ours is one atomic POST). Server CPU: ours + its redis-server, or nats-server.

${compareSection(cases, clientSamples, "")}

Ratios (per round, then the median; ≥ 1.0 = ours faster): single ${r("ours Redis, fetch, single", "NATS JetStream, single")}× (Redis) / ${r("ours embedded, fetch, single", "NATS JetStream, single")}× (embedded) by plain fetch; with the typed EventClient (64 publishes in flight, each answered on its own; the publishes of one event-loop turn coalesced into one atomic batch under one Idempotency-Key, the client's default) vs JetStream with a Nats-Msg-Id on every publish ${r("ours Redis, EventClient, single", "NATS JetStream, single, Nats-Msg-Id")}× / ${r("ours embedded, EventClient, single", "NATS JetStream, single, Nats-Msg-Id")}×, with coalesce: false (one request and Idempotency-Key per publish) ${r("ours Redis, EventClient (coalesce: false), single", "NATS JetStream, single, Nats-Msg-Id")}× / ${r("ours embedded, EventClient (coalesce: false), single", "NATS JetStream, single, Nats-Msg-Id")}×; batch of 100 ${r("ours Redis, fetch, batch of 100", "NATS JetStream, batch of 100")}× / ${r("ours embedded, fetch, batch of 100", "NATS JetStream, batch of 100")}×; batch of 500 ${r("ours Redis, fetch, batch of 500", "NATS JetStream, batch of 500")}× / ${r("ours embedded, fetch, batch of 500", "NATS JetStream, batch of 500")}×.

${before.length ? `Before/after in this run (${baseline!.label}: the plugin before this change, exported with git archive, same rounds): ${before.map((b) => {
    const store = b.name.startsWith("redis") ? "Redis" : "embedded";
    const now = store === "Redis" ? redisEv : embedded;
    return `${store}: EventClient single ${r(`ours ${store}, EventClient, single`, `ours ${b.name}, EventClient, single`)}× before's events/s; wrk single ${(med(singles[now.name], (x) => x.rps) / med(singles[b.name], (x) => x.rps)).toFixed(2)}× (server CPU µs/req ${med(singles[b.name], (x) => x.cpuUs).toFixed(1)} → ${med(singles[now.name], (x) => x.cpuUs).toFixed(1)})`;
  }).join("; ")}.` : ""}

**Single-event publish vs a bare Elysia JSON POST handler (wrk, 1 thread, 64 connections; peer in the same run)**

${singleSection(servers, peer, redisEv, embedded, singles)}

**Batch publishing, wrk (atomic per batch)**

${table(["path", "events/s (median)", "server CPU µs/event", "rounds", "non-2xx+errors"], batchRows)}

**Publish → consumer latency at 1,000 events/s** (one publisher in the bench process, one publish per event not awaited before the next; latency = arrival in the consumer − before the publish, same process clock; each case warmed up once for ${LAT_WARM_S} s, then ${ROUNDS} rounds × 5 s, sides alternating; our servers${redisProc ? " and redis-server" : ""} on both cores for this section, as nats-server)

${table(["consumer", "events received", "p50 ms (median)", "p99 ms (median)", "p99 per round", "max ms", "server CPU µs/event (publish + delivery + ack)", "server GCs per 1,000 events (pauses)"], latRows)}

p99 ours (Redis, SSE, fetch() publisher) ${p99Of("ours, Redis store, SSE").toFixed(2)} ms vs JetStream ${p99Of("NATS JetStream, pull consumer").toFixed(2)} ms (${p99Of("ours, Redis store, SSE") <= p99Of("NATS JetStream, pull consumer") ? "≤" : ">"} JetStream's). Each system's own clients at both ends, as JetStream's row has them (typed EventClient → typed EventSubscriberClient): Redis store ${p99Of(OWN_CLIENTS).toFixed(2)} ms, embedded store ${p99Of(OWN_CLIENTS_EMBEDDED).toFixed(2)} ms (target ≤ JetStream's: ${Math.min(p99Of(OWN_CLIENTS), p99Of(OWN_CLIENTS_EMBEDDED)) <= p99Of("NATS JetStream, pull consumer") ? "met" : "not met"}).

1-minute load average before each measured segment (other engineers' runs share the machine; the script waits up to ${Number(process.env.BENCH_WAIT_S ?? 45)} s for < 2.5 before each): ${loads.map((l) => l.toFixed(1)).join(", ")}.
`;
  console.log(md);
  writeSection("events", md);
} catch (err) {
  if (!(err instanceof QuickCheck)) throw err;
} finally {
  for (const s of servers) s.stop();
  await nats?.delete();
  const r = new Redis(REDIS_URL);
  await r.del(stream, `{${stream}}:dlq`, `{${stream}}:types`).catch(() => {});
  r.disconnect();
  redisProc?.kill();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
