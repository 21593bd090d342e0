/**
 * The client process of bench/events.bench.ts's publish comparison: ours and NATS JetStream are driven
 * from this one program (the bench pins it to CPU 0), with the same number of publishes in flight, so
 * the client's own cost is counted the same way on both sides.
 *
 *   bun run bench/peers/nats-load.ts '<Spec as JSON>'   → MARK when the measured window starts, then one JSON line (LoadOut)
 *
 * Targets:
 *   fetch       POST /events with plain fetch() (the body prebuilt once)
 *   client      the typed EventClient (src/clients/event-client.ts), as users publish: the publishes of one
 *               turn of the event loop go as one atomic batch (its default), each answered on its own
 *   client-apart the same with coalesce: false: one request (and Idempotency-Key) per publish
 *   nats        js.publish() awaited for its PubAck (file storage: stored when acknowledged)
 *   nats-msgid  the same with a Nats-Msg-Id per message (JetStream's dedup, the analogue of our Idempotency-Key)
 * A batch of N is one POST (atomic) for ours; for JetStream N publishes sent together and all acks awaited
 * (nats.js has no atomic batch publish).
 */
import { connect, type JetStreamClient, type NatsConnection } from "nats";
import { EventClient } from "../../src/clients/event-client";

export interface Spec {
  target: "fetch" | "client" | "client-apart" | "nats" | "nats-msgid";
  /** Base URL of the events plugin (fetch, client). */
  url?: string;
  natsUrl?: string;
  /** JetStream subject to publish on (nats, nats-msgid). */
  subject?: string;
  batch: number;
  inflight: number;
  warmS: number;
  durationS: number;
}

export interface LoadOut {
  ops: number;
  events: number;
  eventsPerS: number;
  opsPerS: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** CPU (user+system) of this client process per event, µs. */
  clientCpuUsPerEvent: number;
}

const PAYLOAD = { symbol: "BTC/USDT", price: 97000.5, volume: 1.25 };
const TYPE = "market.data_update" as const;

/** One publish operation (a single event or one batch); resolves when acknowledged, throws otherwise. */
type Op = () => Promise<void>;

async function makeOp(s: Spec): Promise<{ op: Op; close(): Promise<void> }> {
  const events = Array.from({ length: s.batch }, (_, i) => ({ type: TYPE, payload: { ...PAYLOAD, price: PAYLOAD.price + i } }));
  if (s.target === "fetch") {
    const body = JSON.stringify(s.batch === 1 ? events[0] : { events });
    const url = `${s.url}/events`;
    const init = { method: "POST", headers: { "content-type": "application/json" }, body };
    return {
      op: async () => {
        const r = await fetch(url, init);
        await r.arrayBuffer();
        if (r.status !== 201) throw new Error(`status ${r.status}`);
      },
      close: async () => {},
    };
  }
  if (s.target === "client" || s.target === "client-apart") {
    const client = new EventClient({ baseUrl: s.url, retries: 1, tls: false, coalesce: s.target === "client" });
    return {
      op: s.batch === 1 ? async () => { await client.publish(TYPE, PAYLOAD); } : async () => { await client.publishBatch(events); },
      close: async () => {},
    };
  }
  const nc: NatsConnection = await connect({ servers: s.natsUrl });
  const js: JetStreamClient = nc.jetstream();
  const datas = events.map((e) => new TextEncoder().encode(JSON.stringify(e)));
  const subject = s.subject!;
  const withId = s.target === "nats-msgid";
  const one = (i: number) => js.publish(subject, datas[i], withId ? { msgID: crypto.randomUUID() } : undefined);
  return {
    op: s.batch === 1 ? async () => { await one(0); } : async () => { await Promise.all(datas.map((_, i) => one(i))); },
    close: () => nc.drain(),
  };
}

export async function runLoad(s: Spec): Promise<LoadOut> {
  const { op, close } = await makeOp(s);
  const start = performance.now();
  const measureFrom = start + s.warmS * 1000;
  const end = measureFrom + s.durationS * 1000;
  const lat: number[] = [];
  let errors = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  const worker = async () => {
    // Bounded by the clock: every iteration awaits one acknowledged operation or its error.
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await op();
        if (t0 >= measureFrom) lat.push(performance.now() - t0);
      } catch {
        errors++;
        await Bun.sleep(1);
      }
    }
  };
  // MARK tells the bench when the measured window starts (it reads the servers' CPU then).
  const cpuMark = setTimeout(() => { cpu0 = process.cpuUsage(); console.log("MARK"); }, s.warmS * 1000);
  await Promise.all(Array.from({ length: s.inflight }, worker));
  clearTimeout(cpuMark);
  const cpu = process.cpuUsage(cpu0);
  await close();
  const sorted = lat.sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const ops = sorted.length;
  return {
    ops,
    events: ops * s.batch,
    opsPerS: ops / s.durationS,
    eventsPerS: (ops * s.batch) / s.durationS,
    p50ms: pct(50),
    p99ms: pct(99),
    errors,
    clientCpuUsPerEvent: (cpu.user + cpu.system) / Math.max(1, ops * s.batch),
  };
}

if (import.meta.main) {
  const out = await runLoad(JSON.parse(Bun.argv[2]) as Spec);
  console.log(JSON.stringify(out));
  process.exit(0);
}
