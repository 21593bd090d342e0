/**
 * Delivery throughput to a consumer group (bench/events-delivery.bench.ts): a backlog already stored is read
 * whole by a new group from the start, every event acknowledged, the same way on each side:
 *   sseDrain         ours: GET /events/subscribe?start=all (raw SSE), acks POSTed 200 ids at a time
 *   subscriberDrain  ours: the typed EventSubscriberClient (start "all"; acks after its handler, batched by it)
 *   jetstreamDrain   NATS JetStream: a durable pull consumer (deliver all, explicit acks), consume() with its
 *                    defaults, or pulling more at a time
 * Each resolves with the events received and the seconds from the subscription's start to the last one;
 * bounded by `timeoutMs` (what arrived by then is reported).
 */
import { AckPolicy, connect, DeliverPolicy } from "nats";
import { EventClient } from "../../src/clients/event-client";
import { EventSubscriberClient } from "../../src/clients/event-subscriber";

export interface DrainOut { received: number; seconds: number }

const ID_LINE = /^id: (.+)$/gm;

export async function sseDrain(url: string, count: number, timeoutMs: number): Promise<DrainOut> {
  const group = `drain_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const started = performance.now();
  let last = started;
  let received = 0;
  const acks: string[] = [];
  const acking: Promise<unknown>[] = [];
  const ack = () => {
    const ids = acks.splice(0);
    acking.push(fetch(`${url}/events/ack`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ group, ids }) }).then((r) => r.arrayBuffer()));
  };
  try {
    const res = await fetch(`${url}/events/subscribe?group=${group}&consumer=c&start=all`, { signal: ac.signal });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = "";
    while (received < count) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      const end = buf.lastIndexOf("\n\n");
      if (end < 0) continue;
      const blocks = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const m of blocks.matchAll(ID_LINE)) { acks.push(m[1]); received++; }
      last = performance.now();
      if (acks.length >= 200) ack();
    }
    await reader.cancel().catch(() => {});
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  if (acks.length > 0) ack();
  await Promise.all(acking);
  return { received, seconds: (last - started) / 1000 };
}

export async function subscriberDrain(url: string, count: number, timeoutMs: number): Promise<DrainOut> {
  const sub = new EventSubscriberClient(new EventClient({ baseUrl: url, tls: false }), { group: `drainsub_${Date.now()}`, consumer: "c", start: "all" });
  let received = 0;
  let last = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => (finished = r));
  sub.registerHandler("market.data_update", () => {
    received++;
    if (received === count) { last = performance.now(); finished(); }
  });
  const started = performance.now();
  await sub.startSubscribing();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  if (last === 0) last = performance.now();
  await sub.stop();
  return { received, seconds: (last - started) / 1000 };
}

/** `maxMessages`: consume()'s pull size (undefined: the client's default, 100). */
export async function jetstreamDrain(natsUrl: string, stream: string, subject: string, count: number, timeoutMs: number, maxMessages?: number): Promise<DrainOut> {
  const nc = await connect({ servers: natsUrl });
  const jsm = await nc.jetstreamManager();
  const durable = `drain_${Date.now()}`;
  const started = performance.now();
  await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: subject });
  const consumer = await nc.jetstream().consumers.get(stream, durable);
  const messages = await consumer.consume(maxMessages === undefined ? undefined : { max_messages: maxMessages });
  const timer = setTimeout(() => messages.stop(), timeoutMs);
  let received = 0;
  let last = started;
  for await (const m of messages) {
    m.ack();
    received++;
    if (received === count) { last = performance.now(); break; }
  }
  clearTimeout(timer);
  if (received < count) last = performance.now();
  messages.stop(); // (close() after a break never settles)
  await jsm.consumers.delete(stream, durable).catch(() => {});
  await nc.drain();
  return { received, seconds: (last - started) / 1000 };
}
