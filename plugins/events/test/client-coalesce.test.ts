/**
 * EventClient's coalescing (src/clients/publish-coalescer.ts) against a real events host, through a
 * counting TCP relay in front of it (it counts the POST /events requests that reach the service and can
 * lose an answer on purpose): publishes made together go as one batch and each gets its own event back;
 * a refused event is refused alone; a lost answer is retried without storing anything twice; a service
 * with a small max_batch still stores every publish once.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import type { Socket } from "bun";
import { startHost, type TestHost } from "../../../test/support/harness";
import { EventClient, EventType, ServiceError, type PublishResult } from "../../../src/clients/event-client";

/** A byte relay to `port` that counts request lines starting with "POST /events " and can drop answers. */
function countingRelay(port: number) {
  const state = { posts: 0, dropAnswers: 0 };
  type Side = { peer: Socket<Side> | null; early: Buffer[]; toClient: boolean };
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      binaryType: "buffer",
      open(client) {
        client.data = { peer: null, early: [], toClient: false };
        void Bun.connect<Side>({
          hostname: "127.0.0.1", port,
          data: { peer: client, early: [], toClient: true },
          socket: {
            binaryType: "buffer",
            data(up, bytes) {
              // A whole answer lost: the client's connection closes without it (the request was stored).
              if (state.dropAnswers > 0) { state.dropAnswers--; client.end(); up.end(); return; }
              client.write(bytes);
            },
            close() { client.end(); },
            error() { client.end(); },
          },
        }).then((up) => {
          client.data.peer = up;
          for (const b of client.data.early) up.write(b);
          client.data.early = [];
        }, () => client.end());
      },
      data(client, bytes) {
        state.posts += bytes.toString("latin1").split("POST /events ").length - 1;
        if (client.data.peer === null) client.data.early.push(Buffer.from(bytes));
        else client.data.peer.write(bytes);
      },
      close(client) { client.data.peer?.end(); },
      error() {},
    },
  });
  return { state, url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

const signal = (n: number) => ({ symbol: "BTC/USDT", action: "BUY" as const, confidence: n / 1000 });

/**
 * The stored trading signals of `source`, confidence → event ids (read back through the service's query
 * API); `order` lists the confidences in stream order.
 */
async function stored(events: EventClient, source: string, order: number[] = []): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  let after: string | undefined;
  for (let pages = 0; pages < 50; pages++) {
    const page = await events.query({ source, types: [EventType.TRADING_SIGNAL], limit: 500, after });
    for (const e of page.events) {
      const c = Math.round((e.payload as { confidence: number }).confidence * 1000);
      out.set(c, [...(out.get(c) ?? []), e.id]);
      order.push(c);
    }
    if (page.next === null) return out;
    after = page.next;
  }
  throw new Error("more pages than expected");
}

describe("EventClient coalescing", () => {
  let t: TestHost;
  let small: TestHost;
  let relay: ReturnType<typeof countingRelay>;
  let reader: EventClient;
  beforeAll(async () => {
    t = await startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  events:\n    port: 0\n`);
    small = await startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  events:\n    port: 0\n    max_batch: 8\n`);
    relay = countingRelay(Number(new URL(t.url("events")).port));
    reader = new EventClient({ baseUrl: t.url("events") });
  });
  afterAll(async () => { relay.stop(); await t.stop(); await small.stop(); });

  test("publishes made together go as one request, and each is answered with its own stored event", async () => {
    const source = `together-${crypto.randomUUID()}`;
    const events = new EventClient({ baseUrl: relay.url, source });
    const before = relay.state.posts;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => events.publishTradingSignal(signal(i))));
    expect(relay.state.posts - before).toBe(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(40);
    expect(results.every((r) => r.duplicate === false)).toBe(true);
    const order: number[] = [];
    const byConfidence = await stored(reader, source, order);
    expect(byConfidence.size).toBe(40);
    for (let i = 0; i < 40; i++) expect(byConfidence.get(i)).toEqual([results[i].id]);
    expect(order).toEqual(Array.from({ length: 40 }, (_, i) => i)); // stored in the order of the calls
  });

  test("more than a batch's worth in one turn: several batches, every publish answered once", async () => {
    const source = `many-${crypto.randomUUID()}`;
    const events = new EventClient({ baseUrl: relay.url, source });
    const before = relay.state.posts;
    const results = await Promise.all(Array.from({ length: 250 }, (_, i) => events.publishTradingSignal(signal(i))));
    expect(relay.state.posts - before).toBe(3); // 100 + 100 + 50
    const byConfidence = await stored(reader, source);
    for (let i = 0; i < 250; i++) expect(byConfidence.get(i)).toEqual([results[i].id]);
  });

  test("coalesce: false sends one request per publish", async () => {
    const events = new EventClient({ baseUrl: relay.url, source: `apart-${crypto.randomUUID()}`, coalesce: false });
    const before = relay.state.posts;
    await Promise.all(Array.from({ length: 12 }, (_, i) => events.publishTradingSignal(signal(i))));
    expect(relay.state.posts - before).toBe(12);
  });

  test("a publish with its own Idempotency-Key or traceparent goes alone; the others still share one request", async () => {
    const events = new EventClient({ baseUrl: relay.url, source: `own-${crypto.randomUUID()}` });
    const before = relay.state.posts;
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await Promise.all([
      events.publishTradingSignal(signal(1), { idempotencyKey: `k-${crypto.randomUUID()}` }),
      events.publishTradingSignal(signal(2), { traceparent: tp }),
      events.publishTradingSignal(signal(3)),
      events.publishTradingSignal(signal(4)),
      events.publishTradingSignal(signal(5)),
    ]);
    expect(relay.state.posts - before).toBe(3);
  });

  test("one invalid event among them is refused alone with its own coded error; the others are stored once", async () => {
    const source = `invalid-${crypto.randomUUID()}`;
    const events = new EventClient({ baseUrl: relay.url, source, retries: 1 });
    const before = relay.state.posts;
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
      i === 4 ? events.publish(EventType.TRADING_SIGNAL, { symbol: "BTC/USDT", action: "HOLD-ISH", confidence: 0.5 } as never) : events.publishTradingSignal(signal(i))));
    const bad = settled[4];
    expect(bad.status).toBe("rejected");
    const err = (bad as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.status).toBe(400);
    expect(err.where).toStartWith("/payload"); // as when it is published alone, not /events/4/...
    // The batch (refused whole, nothing stored), then each event alone.
    expect(relay.state.posts - before).toBe(11);
    const byConfidence = await stored(reader, source);
    expect(byConfidence.size).toBe(9);
    for (let i = 0; i < 10; i++) {
      if (i === 4) continue;
      expect(settled[i].status).toBe("fulfilled");
      expect(byConfidence.get(i)).toEqual([(settled[i] as PromiseFulfilledResult<PublishResult>).value.id]);
    }
  });

  test("a batch whose answer is lost is retried under its key: each event stored once, answered as a duplicate", async () => {
    const source = `lost-${crypto.randomUUID()}`;
    const events = new EventClient({ baseUrl: relay.url, source, retries: 3, retryBaseMs: 5, retryCapMs: 20 });
    // Two answers lost: the transport sends a request again once by itself (wire-client.ts), so the
    // second loss reaches the client's own retry, which must send the batch under the same key.
    relay.state.dropAnswers = 2;
    const before = relay.state.posts;
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => events.publishTradingSignal(signal(i))));
    expect(relay.state.dropAnswers).toBe(0);
    expect(relay.state.posts - before).toBeGreaterThanOrEqual(3);
    expect(results.every((r) => r.duplicate)).toBe(true);
    const byConfidence = await stored(reader, source);
    expect(byConfidence.size).toBe(6);
    for (let i = 0; i < 6; i++) expect(byConfidence.get(i)).toEqual([results[i].id]);
  });

  test("a service with a smaller max_batch (8): groups shrink, every publish is stored once", async () => {
    const source = `small-${crypto.randomUUID()}`;
    const events = new EventClient({ baseUrl: small.url("events"), source });
    const first = await Promise.all(Array.from({ length: 40 }, (_, i) => events.publishTradingSignal(signal(i))));
    const second = await Promise.all(Array.from({ length: 40 }, (_, i) => events.publishTradingSignal(signal(100 + i))));
    const byConfidence = await stored(new EventClient({ baseUrl: small.url("events") }), source);
    expect(byConfidence.size).toBe(80);
    for (let i = 0; i < 40; i++) {
      expect(byConfidence.get(i)).toEqual([first[i].id]);
      expect(byConfidence.get(100 + i)).toEqual([second[i].id]);
    }
  });
});
