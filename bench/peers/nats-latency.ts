/**
 * Publish → consumer latency at a fixed rate, the same pacing loop for every side (bench/events.bench.ts):
 *   sseLatency         ours: POST /events per event, read by a raw SSE consumer-group subscription (acks batched)
 *   subscriberLatency  ours: the same publishes (or the typed EventClient's), read by the typed EventSubscriberClient (acks after the handler)
 *   jetstreamLatency   NATS JetStream: js.publish per event, read by a durable pull consumer with explicit acks
 * Each event carries its publish time (performance.now() of this process); latency = arrival − that time.
 */
import { AckPolicy, connect, DeliverPolicy, type NatsConnection } from "nats";
import { EventClient } from "../../src/clients/event-client";
import { EventSubscriberClient } from "../../src/clients/event-subscriber";

export interface LatencyOut { p50: number; p99: number; max: number; received: number; sent: number }

const SETTLE_MS = 3000;

/** Publish `rate`/s for `seconds` (not awaiting each: a slow answer must not delay the next event). */
async function paced(rate: number, seconds: number, publish: (i: number) => Promise<unknown>, tick?: () => void): Promise<void> {
  const total = rate * seconds;
  const started = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0.5) await Bun.sleep(wait);
    inflight.push(publish(i));
    tick?.();
  }
  await Promise.all(inflight);
}

async function settle(lat: number[], total: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (lat.length < total && Date.now() < deadline) await Bun.sleep(10);
}

function summary(lat: number[], sent: number): LatencyOut {
  const sorted = [...lat].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  return { p50: pct(50), p99: pct(99), max: sorted[sorted.length - 1] ?? NaN, received: lat.length, sent };
}

const postLatencyEvent = (url: string) => (i: number) =>
  fetch(`${url}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "custom.latency", payload: { t: performance.now(), i } }) }).then((r) => r.arrayBuffer());

export async function sseLatency(url: string, rate: number, seconds: number): Promise<LatencyOut> {
  const group = `lat_${Date.now()}`;
  const res = await fetch(`${url}/events/subscribe?group=${group}&consumer=c&types=custom.latency`);
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
  const ack = () => { if (acks.length >= 200) void fetch(`${url}/events/ack`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ group, ids: acks.splice(0) }) }); };
  await paced(rate, seconds, postLatencyEvent(url), ack);
  await settle(lat, rate * seconds);
  stop = true;
  await reader.cancel().catch(() => {});
  await readLoop.catch(() => {});
  return summary(lat, rate * seconds);
}

/**
 * Read by the typed EventSubscriberClient; published by fetch() (`publisher` "fetch"), or by the typed
 * EventClient ("client"): our own clients at both ends, as JetStream's row uses the nats client at both.
 */
export async function subscriberLatency(url: string, rate: number, seconds: number, publisher: "fetch" | "client" = "fetch"): Promise<LatencyOut> {
  const lat: number[] = [];
  const sub = new EventSubscriberClient(new EventClient({ baseUrl: url, tls: false }), { group: `latsub_${Date.now()}`, consumer: "c" });
  sub.registerHandler("custom.latency", (e) => { lat.push(performance.now() - (e.payload as { t: number }).t); });
  await sub.startSubscribing();
  await Bun.sleep(200);
  const events = new EventClient({ baseUrl: url, tls: false });
  await paced(rate, seconds, publisher === "fetch" ? postLatencyEvent(url) : (i) => events.publish("custom.latency", { t: performance.now(), i }));
  await settle(lat, rate * seconds);
  await sub.stop();
  return summary(lat, rate * seconds);
}

export async function jetstreamLatency(natsUrl: string, stream: string, rate: number, seconds: number): Promise<LatencyOut> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const jsm = await nc.jetstreamManager();
  const durable = `lat_${Date.now()}`;
  const subject = `${stream}.custom.latency`;
  await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: subject });
  const js = nc.jetstream();
  const consumer = await js.consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: 100 });
  const lat: number[] = [];
  const readLoop = (async () => {
    for await (const m of messages) {
      lat.push(performance.now() - (m.json() as { payload: { t: number } }).payload.t);
      m.ack();
    }
  })();
  await Bun.sleep(200);
  const enc = new TextEncoder();
  await paced(rate, seconds, (i) => js.publish(subject, enc.encode(JSON.stringify({ type: "custom.latency", payload: { t: performance.now(), i } }))));
  await settle(lat, rate * seconds);
  await messages.close();
  await readLoop.catch(() => {});
  await jsm.consumers.delete(stream, durable).catch(() => {});
  await nc.drain();
  return summary(lat, rate * seconds);
}
