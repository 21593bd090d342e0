/**
 * Events work in the publisher's trace (issue 18), on both stores, exported over OTLP/HTTP to a test
 * receiver (test/support/otlp-receiver.ts): a publish under a caller's traceparent stores the publish span's
 * context with the event; the delivery (events.deliver), the typed subscriber's handler (events.process)
 * and ack (events.ack, client and server side) and a poison event's dead-lettering (events.dead_letter)
 * all hang in that one trace, parent to child. An unsampled publish records nothing anywhere; with tracing
 * off nothing is sent and the caller's own traceparent is still stored for the consumers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startHost, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../../../test/support/otlp-receiver";
import { EventClient } from "../../../src/clients/event-client";
import { EventSubscriberClient, type Delivered } from "../../../src/clients/event-subscriber";
import { Tracer, SPAN_KIND } from "../../../src/lib/trace/trace";
import { exporterFor } from "../../../src/lib/trace/otlp";
import { json, dropStreamKeys } from "./support";

const hex = (n: number) => Array.from({ length: n }, () => "0123456789abcdef"[Math.floor(Math.random() * 16)]).join("");
const one = (spans: ReceivedSpan[], name: string) => {
  const xs = spans.filter((s) => s.name === name);
  expect(xs.map((s) => s.name)).toEqual([name]);
  return xs[0];
};

const backends = [
  { name: "embedded", redis: "" },
  { name: "redis", redis: SHARED_REDIS_URL },
];

for (const b of backends) {
  describe(`events tracing (${b.name})`, () => {
    const stream = `test_tracing_${process.pid}_${Date.now().toString(36)}_${b.name}`;
    let receiver: OtlpReceiver;
    let t: TestHost;
    let base: string;
    let consumerTracer: Tracer;
    const subscribers: EventSubscriberClient[] = [];

    beforeAll(async () => {
      receiver = startOtlpReceiver();
      t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  redis_url: "${b.redis}"
  tracing: { endpoint: "${receiver.url}", flush_interval: 50ms }
plugins:
  events:
    port: 0
    stream: ${stream}
    visibility_timeout: 200ms
    max_deliveries: 2
`);
      base = t.url("events");
      consumerTracer = new Tracer("test-consumer", 1, exporterFor({ endpoint: receiver.url, sample_ratio: 1, flush_interval: 50, max_queue: 10_000, headers: {} }));
    });
    afterAll(async () => {
      for (const s of subscribers) await s.stop();
      if (b.redis) await dropStreamKeys(b.redis, stream);
      await t.stop();
      receiver.stop();
    });

    test("publish → store → deliver → process → ack: one trace, parent to child, across the plugin and the typed subscriber", async () => {
      const client = new EventClient({ baseUrl: base, source: "tracing-test" });
      const seen: Delivered<"custom.traced">[] = [];
      const sub = new EventSubscriberClient(client, { group: "traced", consumer: "c1", tracer: consumerTracer });
      sub.registerHandler("custom.traced", (e) => { seen.push(structuredClone(e)); });
      subscribers.push(sub);
      await sub.startSubscribing();

      const trace = hex(32), caller = hex(16);
      const r = await client.publish("custom.traced", { n: 1 }, { traceparent: `00-${trace}-${caller}-01` });
      // Both ack spans: the server's is exported before the client has its answer (and records its own).
      const spans = (await receiver.waitFor((s) => s.filter((x) => x.traceId === trace && x.name === "events.ack").length === 2))
        .filter((s) => s.traceId === trace);

      const publish = one(spans, "events.publish");
      expect(publish.parentSpanId).toBe(caller);
      expect(publish.service).toBe("tradpal-events");
      expect(one(spans, "events.store").parentSpanId).toBe(publish.spanId);
      const deliver = one(spans, "events.deliver");
      expect(deliver.service).toBe("tradpal-events");
      expect(deliver.kind).toBe(SPAN_KIND.producer);
      expect(deliver.parentSpanId).toBe(publish.spanId);
      expect(deliver.attributes["messaging.consumer.group.name"]).toBe("traced");
      expect(deliver.attributes["tradpal.stream_id"]).toBe(r.streamId);
      const process = one(spans, "events.process");
      expect(process.service).toBe("test-consumer");
      expect(process.kind).toBe(SPAN_KIND.consumer);
      expect(process.parentSpanId).toBe(deliver.spanId);
      expect(process.status.code).not.toBe(2);
      const acks = spans.filter((s) => s.name === "events.ack");
      const ackClient = acks.find((s) => s.service === "test-consumer")!;
      const ackServer = acks.find((s) => s.service === "tradpal-events")!;
      expect(ackClient.kind).toBe(SPAN_KIND.client);
      expect(ackClient.parentSpanId).toBe(process.spanId);
      expect(ackServer.parentSpanId).toBe(ackClient.spanId);
      expect(ackServer.attributes["tradpal.acked"]).toBe(1);
      // The handler saw the trace context of its own span (to pass on to the calls it makes).
      expect(seen.map((e) => e.traceparent)).toEqual([`00-${trace}-${process.spanId}-01`]);
      // The stored event keeps the publish span's context (GET /events).
      const page = await client.query({ types: ["custom.traced" as any] });
      expect(page.events.map((e: any) => e.traceparent)).toEqual([`00-${trace}-${publish.spanId}-01`]);
    });

    test("a poison event: its redeliveries and its dead-lettering are spans of the publisher's trace, the dead letter an error", async () => {
      const client = new EventClient({ baseUrl: base, source: "tracing-test" });
      const sub = new EventSubscriberClient(client, { group: "poisoned", consumer: "c2", tracer: consumerTracer, onError: () => {} });
      sub.registerHandler("custom.poison", () => { throw new Error("cannot handle this"); });
      subscribers.push(sub);
      await sub.startSubscribing();

      const trace = hex(32), caller = hex(16);
      const res = await fetch(`${base}/events`, json({ type: "custom.poison", payload: {} }, { traceparent: `00-${trace}-${caller}-01` }));
      expect(res.status).toBe(201);
      const spans = (await receiver.waitFor((s) => s.some((x) => x.traceId === trace && x.name === "events.dead_letter"), 15_000)).filter((s) => s.traceId === trace);
      const publish = one(spans, "events.publish");
      const dead = one(spans, "events.dead_letter");
      expect(dead.parentSpanId).toBe(publish.spanId);
      expect(dead.status.code).toBe(2);
      expect(dead.attributes["messaging.consumer.group.name"]).toBe("poisoned");
      const delivers = spans.filter((s) => s.name === "events.deliver");
      expect(delivers.length).toBe(2); // max_deliveries (the other groups' subscriptions filter it out: no span there)
      expect(delivers.map((d) => d.attributes["tradpal.delivery_count"]).sort()).toEqual([1, 2]);
      const processes = spans.filter((s) => s.name === "events.process");
      expect(processes.length).toBe(2);
      for (const p of processes) {
        expect(p.status).toEqual({ code: 2, message: "cannot handle this" });
        expect(delivers.map((d) => d.spanId)).toContain(p.parentSpanId!);
      }
      expect(spans.some((s) => s.name === "events.ack")).toBe(false);
    });

    test("an unsampled publish (flags 00) records no span anywhere, and is still delivered and acked", async () => {
      const client = new EventClient({ baseUrl: base, source: "tracing-test" });
      const got: string[] = [];
      const sub = new EventSubscriberClient(client, { group: "unsampled", consumer: "c3", tracer: consumerTracer });
      sub.registerHandler("custom.quiet", (e) => { got.push(e.traceparent ?? ""); });
      subscribers.push(sub);
      await sub.startSubscribing();
      const trace = hex(32);
      await client.publish("custom.quiet", {}, { traceparent: `00-${trace}-${hex(16)}-00` });
      for (let i = 0; i < 100 && sub.handled === 0; i++) await Bun.sleep(20);
      expect(got).toHaveLength(1);
      expect(got[0]).toStartWith(`00-${trace}-`);
      expect(got[0]).toEndWith("-00");
      await Bun.sleep(300); // two flush intervals
      expect(receiver.spans.filter((s) => s.traceId === trace)).toEqual([]);
    });
  });
}

describe("events tracing off", () => {
  let receiver: OtlpReceiver;
  let t: TestHost;
  beforeAll(async () => {
    receiver = startOtlpReceiver();
    t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  events: { port: 0 }
`);
  });
  afterAll(async () => { await t.stop(); receiver.stop(); });

  test("no span is sent; the caller's own traceparent is stored and delivered as it was given; none when it sent none or a bad one", async () => {
    const base = t.url("events");
    const tp = `00-${hex(32)}-${hex(16)}-01`;
    for (const h of [{ traceparent: tp }, {}, { traceparent: "00-zz-bad-01" }] as Record<string, string>[]) {
      expect((await fetch(`${base}/events`, json({ type: "custom.off", payload: {} }, h))).status).toBe(201);
    }
    const page = await (await fetch(`${base}/events?types=custom.off`)).json();
    expect(page.events.map((e: any) => e.traceparent)).toEqual([tp, undefined, undefined]);
    await Bun.sleep(200);
    expect(receiver.requests).toBe(0);
  });
});
