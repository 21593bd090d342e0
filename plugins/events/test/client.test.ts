/**
 * The client libraries against a real host: EventClient round trips (typed publish, shortcuts, batch,
 * query, replay, stats, errors) and EventSubscriberClient surviving the service going away and coming
 * back (backoff, resume without loss; Redis keeps the state across the two host processes).
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import Redis from "ioredis";
import { startHost, freePort, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";
import { EventClient, EventType, ServiceError } from "../../../src/clients/event-client";
import { EventSubscriberClient, UnhandledEventError } from "../../../src/clients/event-subscriber";

describe("EventClient", () => {
  let t: TestHost;
  let events: EventClient;
  beforeAll(async () => {
    t = await startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  events:\n    port: 0\n`);
    events = new EventClient({ baseUrl: t.url("events"), source: "trading_service" });
  });
  afterAll(async () => { await t.stop(); });

  test("seed usage: publishTradingSignal, publishMarketData, typed publish, query", async () => {
    const s = await events.publishTradingSignal({ symbol: "BTC/USDT", action: "BUY", confidence: 0.85 });
    const m = await events.publishMarketData({ symbol: "BTC/USDT", price: 97_000.5, volume: 3 });
    const f = await events.publish(EventType.ORDER_FILLED, { order_id: "o-1", symbol: "BTC/USDT", side: "SELL", quantity: 0.1, price: 97_001 }, { correlationId: "trade-1" });
    const page = await events.query({ fromId: s.streamId, limit: 10 });
    expect(page.events.map((e) => e.streamId)).toEqual([s.streamId, m.streamId, f.streamId]);
    expect(page.events[0]).toMatchObject({ type: "trading.signal", source: "trading_service", payload: { action: "BUY" } });
    expect(page.events[2].correlationId).toBe("trade-1");
    const only = await events.query({ types: [EventType.MARKET_DATA_UPDATE], fromId: s.streamId });
    expect(only.events.map((e) => e.id)).toEqual([m.id]);
  });

  test("batch, idempotent retry, replay and stats", async () => {
    const from = Date.now();
    const b = await events.publishBatch([{ type: "custom.a", payload: { n: 1 } }, { type: "custom.a", payload: { n: 2 } }], { idempotencyKey: "client-batch-1" });
    const again = await events.publishBatch([{ type: "custom.a", payload: { n: 1 } }, { type: "custom.a", payload: { n: 2 } }], { idempotencyKey: "client-batch-1" });
    expect(again.streamIds).toEqual(b.streamIds);
    expect(again.ids).toEqual(b.ids);
    expect(again.duplicate).toBe(true);
    const replayed: number[] = [];
    for await (const e of events.replay({ types: ["custom.a"], from })) replayed.push((e.payload as any).n);
    expect(replayed).toEqual([1, 2]);
    const st = await events.stats();
    expect(st.perType["custom.a"]).toBe(2);
    expect(st.backend).toBe("embedded");
  });

  test("a repeated key answers the original id; another body under it is a coded 409, not retried", async () => {
    const key = `client-${crypto.randomUUID()}`;
    const first = await events.publish("custom.idem", { n: 1 }, { idempotencyKey: key });
    const again = await events.publish("custom.idem", { n: 1 }, { idempotencyKey: key });
    expect(again).toEqual({ ...first, duplicate: true });
    const back = await events.query({ fromId: first.streamId, toId: first.streamId });
    expect(back.events.map((e) => e.id)).toEqual([first.id]);
    const err = await events.publish("custom.idem", { n: 2 }, { idempotencyKey: key }).catch((e) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect([err.status, err.code, err.where, err.retryable]).toEqual([409, "EV_ERR_IDEMPOTENCY_CONFLICT", "header.idempotency-key", false]);
    expect(err.details.ids).toEqual([first.id]);
    const batchErr = await events.publishBatch([{ type: "custom.idem", payload: { n: 1 } }, { type: "custom.idem", payload: { n: 1 } }], { idempotencyKey: key }).catch((e) => e);
    expect(batchErr.code).toBe("EV_ERR_IDEMPOTENCY_CONFLICT");
  });

  test("a 400 is not retried and keeps the service's code and path", async () => {
    const err = await events.publish(EventType.TRADING_SIGNAL, { symbol: "BTC/USDT", action: "BUY", confidence: 7 }).catch((e) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.status).toBe(400);
    expect(err.code).toBe("EV_ERR_VALIDATION");
    expect(err.where).toBe("/payload/confidence");
  });

  test("an unreachable service: status 0 after the retries, within a bounded time", async () => {
    const away = new EventClient({ baseUrl: `http://127.0.0.1:${freePort()}`, retries: 3, retryBaseMs: 10, retryCapMs: 50 });
    const started = Date.now();
    const err = await away.publishMarketData({ symbol: "X", price: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.status).toBe(0);
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("EventSubscriberClient", () => {
  const stream = `test_client_${process.pid}_${Date.now().toString(36)}`;
  const port = freePort();
  const yaml = `host:\n  data_dir: \${DATA_DIR}\n  redis_url: "${SHARED_REDIS_URL}"\nplugins:\n  events:\n    port: ${port}\n    hostname: 127.0.0.1\n    stream: ${stream}\n    visibility_timeout: 300ms\n`;
  afterAll(async () => {
    const r = new Redis(SHARED_REDIS_URL);
    for (const k of await r.keys(`*${stream}*`)) await r.del(k);
    r.disconnect();
  });

  test("waits (backoff) for a service that is away, resumes without loss across a service restart", async () => {
    const events = new EventClient({ baseUrl: `http://127.0.0.1:${port}`, retries: 1 });
    const got = new Map<number, number>();
    const errors: unknown[] = [];
    const sub = new EventSubscriberClient(events, { group: "client-test", consumer: "c1", start: "all", backoffBaseMs: 20, backoffCapMs: 200, onError: (e) => errors.push(e) });
    sub.registerHandler("custom.seq", async (e) => { got.set((e.payload as any).n, (got.get((e.payload as any).n) ?? 0) + 1); });
    await sub.startSubscribing(); // service not up yet: resolves after the first failed try
    expect(sub.connected).toBe(false);

    let t = await startHost(yaml);
    for (let n = 0; n < 100; n++) await events.publish("custom.seq", { n });
    const until = async (cond: () => boolean, ms = 10_000) => { const d = Date.now() + ms; while (!cond() && Date.now() < d) await Bun.sleep(20); };
    await until(() => got.size === 100);
    expect(got.size).toBe(100);

    await t.stop(); // service goes away
    t = await startHost(yaml);
    const pub2 = new EventClient({ baseUrl: `http://127.0.0.1:${port}` });
    for (let n = 100; n < 200; n++) await pub2.publish("custom.seq", { n });
    await until(() => got.size === 200);
    await sub.stop();
    await t.stop();
    expect(got.size).toBe(200);
    expect(errors.length).toBeGreaterThan(0); // it did notice the outage
  }, 40_000);
});

/** A scripted SSE service (real HTTP on port 0) that logs subscribe and ack requests. */
function scriptedService(subscribe: () => Response) {
  const log = { subscribes: 0, acked: [] as string[] };
  const server = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/events/subscribe") { log.subscribes++; return subscribe(); }
      if (url.pathname === "/events/ack") { const b = await req.json(); log.acked.push(...b.ids); return Response.json({ acked: b.ids.length }); }
      return new Response("no", { status: 404 });
    },
  });
  return { log, server, client: new EventClient({ baseUrl: `http://127.0.0.1:${server.port}`, retries: 1 }) };
}

describe("EventSubscriberClient edge cases", () => {
  test("an event of a type without a handler is never acked; it is counted and reported", async () => {
    const frame = (id: string, type: string) => `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id: `e-${id}`, streamId: id, type, payload: {}, deliveryCount: 1 })}\n\n`;
    const svc = scriptedService(() => new Response(frame("1-1", "custom.other") + frame("1-2", "custom.mine") + frame("1-3", "custom.other"), { headers: { "content-type": "text/event-stream" } }));
    const errors: unknown[] = [];
    const handled: string[] = [];
    const sub = new EventSubscriberClient(svc.client, { group: "g", consumer: "c", backoffBaseMs: 50, backoffCapMs: 50, onError: (e) => errors.push(e) });
    sub.registerHandler("custom.mine" as any, (e) => { handled.push(e.streamId); });
    await sub.startSubscribing();
    const deadline = Date.now() + 3000;
    while (svc.log.acked.length === 0 && Date.now() < deadline) await Bun.sleep(10);
    await sub.stop();
    svc.server.stop(true);
    expect(new Set(handled)).toEqual(new Set(["1-2"]));
    expect(new Set(svc.log.acked)).toEqual(new Set(["1-2"]));
    expect(sub.unhandled).toBeGreaterThanOrEqual(2);
    const unhandled = errors.filter((e) => e instanceof UnhandledEventError) as UnhandledEventError[];
    expect(unhandled.length).toBeGreaterThanOrEqual(2);
    expect(unhandled[0]).toMatchObject({ code: "EV_CLIENT_NO_HANDLER", type: "custom.other", streamId: "1-1" });
  });

  test("handlers run in order, each after the previous one settled; an event is acked only when every handler succeeded, sync or async", async () => {
    const frame = (id: string, n: number) => `id: ${id}\nevent: custom.mine\ndata: ${JSON.stringify({ id: `e-${id}`, streamId: id, type: "custom.mine", payload: { n }, deliveryCount: 1 })}\n\n`;
    // n: 0 all succeed, 1 the sync handler throws, 2 the async one rejects, 3 the last (sync) one throws.
    let calls = 0;
    // The frames once; later reconnects are refused (not counted as handler errors below).
    const svc = scriptedService(() => calls++ === 0
      ? new Response([0, 1, 2, 3, 0].map((n, i) => frame(`1-${i + 1}`, n)).join(""), { headers: { "content-type": "text/event-stream" } })
      : Response.json({ error: { code: "EV_ERR_STORE_UNAVAILABLE", message: "down" } }, { status: 503 }));
    const errors: string[] = [];
    const order: string[] = [];
    const sub = new EventSubscriberClient(svc.client, { group: "g", consumer: "c", backoffBaseMs: 20, backoffCapMs: 20, onError: (e) => { if (!(e instanceof ServiceError)) errors.push((e as Error).message); } });
    sub.registerHandler("custom.mine" as any, (e) => { order.push(`a${e.streamId}`); if ((e.payload as any).n === 1) throw new Error(`sync ${e.streamId}`); });
    sub.registerHandler("custom.mine" as any, async (e) => {
      await Bun.sleep(5);
      order.push(`b${e.streamId}`);
      if ((e.payload as any).n === 2) throw new Error(`async ${e.streamId}`);
    });
    sub.registerHandler("custom.mine" as any, (e) => { order.push(`c${e.streamId}`); if ((e.payload as any).n === 3) throw new Error(`last ${e.streamId}`); });
    await sub.startSubscribing();
    const deadline = Date.now() + 3000;
    while (sub.handled + sub.failed < 5 && Date.now() < deadline) await Bun.sleep(10);
    await sub.stop();
    svc.server.stop(true);
    expect(order).toEqual(["a1-1", "b1-1", "c1-1", "a1-2", "a1-3", "b1-3", "a1-4", "b1-4", "c1-4", "a1-5", "b1-5", "c1-5"]);
    expect(new Set(svc.log.acked)).toEqual(new Set(["1-1", "1-5"]));
    expect([sub.handled, sub.failed]).toEqual([2, 3]);
    expect(errors).toEqual(["sync 1-2", "async 1-3", "last 1-4"]);
  });

  test("a refusal (409 group filter) rejects startSubscribing and is not retried", async () => {
    const svc = scriptedService(() => Response.json({ error: { code: "EV_ERR_GROUP_FILTER_MISMATCH", message: "other filter", where: "query.types" } }, { status: 409 }));
    const sub = new EventSubscriberClient(svc.client, { group: "g", consumer: "c", backoffBaseMs: 10, backoffCapMs: 10 });
    sub.registerHandler("custom.mine" as any, () => {});
    const err = await sub.startSubscribing().catch((e) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect([err.status, err.code]).toEqual([409, "EV_ERR_GROUP_FILTER_MISMATCH"]);
    expect(sub.refused).toBe(err);
    await Bun.sleep(200);
    expect(svc.log.subscribes).toBe(1);
    await sub.stop();
    svc.server.stop(true);
  });
});
