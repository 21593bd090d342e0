/**
 * Delivery throughput to a consumer group, ours vs NATS JetStream (issue 20: "a fair consumer-side figure").
 *
 *   bun run bench events-delivery      (BENCH_DRAIN_N events per backlog, default 100,000; BENCH_ROUNDS, default 3)
 *
 * The same backlog (BENCH_DRAIN_N market.data_update events of 91 bytes) is stored first in each system: our
 * events host on the Redis store (a private redis-server, appendonly, appendfsync everysec) and on the
 * embedded store, and a JetStream stream (file storage, bench/peers/nats-stream.ts). Then, in interleaved
 * rounds, a new consumer group on each reads the whole backlog from the start and acknowledges every event
 * (bench/peers/drain.ts: raw SSE and the typed EventSubscriberClient on ours, a durable pull consumer with
 * explicit acks on JetStream, each with its defaults). Events/s from the subscription's start to the last
 * event; server CPU (ours + its redis-server, or nats-server) from /proc over the drain. Our hosts are pinned
 * to CPU 1; this process (the consumers), redis-server and the publishing on CPU 0; nats-server is the
 * machine's shared one (not pinned).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { cpuTicks, hasCommand, median, TICKS_PER_SECOND } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { startEventsServer, startPrivateRedis, type EventsServer, type Pin } from "./lib/events-servers";
import { createBenchStream, natsServerPid, NATS_URL, type BenchStream } from "./peers/nats-stream";
import { jetstreamDrain, sseDrain, subscriberDrain, type DrainOut } from "./peers/drain";

const pin: Pin = (cpu, cmd) => (hasCommand("taskset") ? ["taskset", "-c", String(cpu), ...cmd] : cmd);
// The consumers run in this process: on CPU 0, away from the servers under test.
if (process.env.DRAIN_PINNED === undefined && hasCommand("taskset")) {
  const child = Bun.spawn(pin(0, ["bun", "run", import.meta.path]), { stdout: "inherit", stderr: "inherit", env: { ...process.env, DRAIN_PINNED: "1" } });
  process.exit(await child.exited);
}

const N = Number(process.env.BENCH_DRAIN_N ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TIMEOUT_MS = 120_000;
const BATCH = 500;
const EVENT = { type: "market.data_update", payload: { symbol: "BTC/USDT", price: 97000.5, volume: 1.25 } };

const load = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
/** Other engineers' runs share the machine: wait (bounded) for a quieter one before each drain. */
async function waitQuiet(maxWaitS = Number(process.env.BENCH_WAIT_S ?? 45)): Promise<number> {
  const deadline = Date.now() + maxWaitS * 1000;
  while (load() > 2.5 && Date.now() < deadline) await Bun.sleep(1000);
  return load();
}

/** Store the backlog on our host: batches of 500, 8 in flight. */
async function fillOurs(url: string): Promise<void> {
  const body = JSON.stringify({ events: Array.from({ length: BATCH }, () => EVENT) });
  let sent = 0;
  const worker = async () => {
    while (sent < N) {
      sent += BATCH;
      const r = await fetch(`${url}/events`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`backlog publish answered ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** The same backlog on JetStream: acknowledged publishes, 1,000 awaited at a time. */
async function fillJetStream(subject: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  const js = nc.jetstream();
  const data = new TextEncoder().encode(JSON.stringify(EVENT));
  for (let i = 0; i < N; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, N - i) }, () => js.publish(subject, data)));
  await nc.drain();
}

interface DrainCase { name: string; vs?: string[]; run: () => Promise<DrainOut>; pids: number[] }
interface Sample extends DrainOut { eventsPerS: number; cpuUs: number }

const dir = mkdtempSync(join(tmpdir(), "tradpal-bench-delivery-"));
const stream = `bench_delivery_${process.pid}`;
const servers: EventsServer[] = [];
let redis: ReturnType<typeof Bun.spawn> | undefined;
let nats: BenchStream | undefined;
const cleanup = async () => { for (const s of servers) s.stop(); redis?.kill(); await nats?.delete().catch(() => {}); rmSync(dir, { recursive: true, force: true }); };
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => { void cleanup().finally(() => process.exit(130)); setTimeout(() => process.exit(130), 2000); });

try {
  const r = await startPrivateRedis(dir, pin, 0);
  redis = r.proc;
  const onRedis = await startEventsServer({ name: "redis", redisUrl: r.url, dir, stream, pin, cpu: 1 });
  servers.push(onRedis);
  const embedded = await startEventsServer({ name: "embedded", redisUrl: "", dir, stream, pin, cpu: 1 });
  servers.push(embedded);
  nats = await createBenchStream(stream, 2_000_000);
  const natsPid = natsServerPid();

  const t0 = performance.now();
  await Promise.all([fillOurs(onRedis.url), fillOurs(embedded.url), fillJetStream(nats.subject)]);
  const stored = await nats.messages();
  if (stored < N) throw new Error(`JetStream holds ${stored} of ${N} events`);
  console.log(`backlog of ${N} stored in each of the three in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Two JetStream settings (the client's default pull of 100, and 1,000): ours is compared with the faster in each round.
  const JS = ["NATS JetStream, durable pull consumer (consume() defaults)", "NATS JetStream, durable pull consumer, 1,000 per pull"];
  const cases: DrainCase[] = [
    { name: JS[0], run: () => jetstreamDrain(NATS_URL, stream, nats!.subject, N, TIMEOUT_MS), pids: natsPid ? [natsPid] : [] },
    { name: JS[1], run: () => jetstreamDrain(NATS_URL, stream, nats!.subject, N, TIMEOUT_MS, 1000), pids: natsPid ? [natsPid] : [] },
    { name: "ours, Redis store, SSE", vs: JS, run: () => sseDrain(onRedis.url, N, TIMEOUT_MS), pids: [onRedis.pid, redis.pid] },
    { name: "ours, Redis store, typed EventSubscriberClient", vs: JS, run: () => subscriberDrain(onRedis.url, N, TIMEOUT_MS), pids: [onRedis.pid, redis.pid] },
    { name: "ours, embedded store, SSE", vs: JS, run: () => sseDrain(embedded.url, N, TIMEOUT_MS), pids: [embedded.pid] },
    { name: "ours, embedded store, typed EventSubscriberClient", vs: JS, run: () => subscriberDrain(embedded.url, N, TIMEOUT_MS), pids: [embedded.pid] },
  ];
  const samples = new Map<string, Sample[]>();
  const loads: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      loads.push(await waitQuiet());
      const ticks = () => c.pids.reduce((a, p) => a + cpuTicks(p), 0);
      const before = ticks();
      const out = await c.run();
      const cpuUs = (((ticks() - before) / TICKS_PER_SECOND) * 1e6) / Math.max(1, out.received);
      const s = { ...out, eventsPerS: out.received / Math.max(1e-9, out.seconds), cpuUs };
      (samples.get(c.name) ?? samples.set(c.name, []).get(c.name)!).push(s);
      console.log(`round ${round + 1} ${c.name}: ${s.received}/${N} in ${s.seconds.toFixed(2)} s = ${Math.round(s.eventsPerS)} events/s, server ${cpuUs.toFixed(1)} µs CPU/event`);
    }
  }

  const med = (name: string, f: (s: Sample) => number) => median(samples.get(name)!.map(f));
  const ratio = (a: string, vs: string[]) => median(samples.get(a)!.map((s, i) => s.eventsPerS / Math.max(...vs.map((b) => samples.get(b)![i].eventsPerS))));
  const rows = cases.map((c) => {
    const eps = samples.get(c.name)!.map((s) => s.eventsPerS);
    return [c.name, Math.round(med(c.name, (s) => s.eventsPerS)), `${Math.round(Math.min(...eps))}–${Math.round(Math.max(...eps))}`,
      c.vs ? `${ratio(c.name, c.vs).toFixed(2)}×` : "—", med(c.name, (s) => s.cpuUs).toFixed(1),
      samples.get(c.name)!.map((s) => `${s.received}`).join(" / ")];
  });
  const md = `## Delivery throughput to a consumer group: ours vs NATS JetStream

Command: \`bun run bench events-delivery\` (bench/events-delivery.bench.ts, bench/peers/drain.ts). A backlog of ${N.toLocaleString("en")}
market.data_update events (91 bytes) stored first in each system; then, ${ROUNDS} interleaved rounds, a new consumer group on each reads
it whole from the start and acknowledges every event: raw SSE (\`GET /events/subscribe?start=all\`, acks POSTed 200 ids at a time) and
the typed EventSubscriberClient (\`start: "all"\`) on ours; a durable pull consumer (deliver all, explicit acks, \`consume()\` with its
defaults, and pulling 1,000 at a time; each round's faster of the two is the yardstick) on JetStream. Events/s from the subscription's start to the last event, medians; server CPU per event: our host + its
redis-server (private, appendonly, everysec), or nats-server (file storage; the machine's shared one, not pinned). Our hosts on CPU 1,
the consumers (this process) and redis-server on CPU 0.

${table(["consumer", "events/s (median)", "range", "× JetStream's faster (median of per-round ratios)", "server CPU µs/event", "events received per round"], rows)}

1-minute load average before each drain (the script waits up to 45 s for < 2.5): ${loads.map((l) => l.toFixed(1)).join(", ")}.`;
  writeSection("events-delivery", md);
} finally {
  await cleanup();
}
process.exit(0);
