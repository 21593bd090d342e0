/**
 * Size limits on both stores, with the defaults (max_event_size 1 MB, max_batch_bytes 8 MB): exactly at
 * a limit is stored, one byte over is a coded 413 and stores nothing, whether the size is declared
 * (Content-Length) or only seen while reading (chunked), for single events, batches and typed routes.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { RawConn } from "../../../test/support/raw-http";
import { EventClient, ServiceError } from "../../../src/clients/event-client";
import {
  backends, startEvents, eventOfSize, batchOfSize, post, errorOf, stats, postChunked, endlessChunked,
  MB, MAX_EVENT, MAX_BATCH, unreadAllowance, type EventsHost,
} from "./support";

for (const b of backends) {
  describe(`size limits (${b.name})`, () => {
    let h: EventsHost;
    let stored = 0; // 201s answered, to compare with the stream's length at the end
    const created = async (res: Response) => {
      expect(res.status).toBe(201);
      const body = await res.json();
      stored += body.count ?? 1;
      return body;
    };
    beforeAll(async () => { h = await startEvents(b.redis, `size_${b.name}`); });
    afterAll(async () => { await h.stop(); });

    test("a single event of exactly max_event_size is stored whole; one byte more is 413 EV_ERR_EVENT_TOO_LARGE", async () => {
      const ok = await created(await post(h.base, "/events", eventOfSize(MAX_EVENT)));
      const page = await (await fetch(`${h.base}/events?from_id=${ok.streamId}&to_id=${ok.streamId}`)).json();
      expect(page.events[0].payload.s).toBe(JSON.parse(eventOfSize(MAX_EVENT)).payload.s);
      expect(JSON.stringify({ type: page.events[0].type, payload: page.events[0].payload }).length).toBe(MAX_EVENT);
      const before = (await stats(h.base)).length;
      for (const size of [MAX_EVENT + 1, MAX_EVENT + 1000, 2 * MB, 5 * MB]) {
        expect(await errorOf(await post(h.base, "/events", eventOfSize(size)))).toEqual({ status: 413, code: "EV_ERR_EVENT_TOO_LARGE", where: "/" });
      }
      expect((await stats(h.base)).length).toBe(before);
    });

    test("the issue's 10 MB event, and any body over max_batch_bytes, is refused from its Content-Length", async () => {
      for (const size of [10 * MB, MAX_BATCH + 1]) {
        const e = await errorOf(await post(h.base, "/events", eventOfSize(size)));
        expect(e).toEqual({ status: 413, code: "EV_ERR_BODY_TOO_LARGE", where: "body" });
      }
      // Declared but never sent: the answer comes at once, the connection is closed (nothing is drained).
      const c = await RawConn.open(h.port);
      try {
        const res = await c.request(`POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${9 * MB}\r\n\r\n{"type":`, { method: "POST", timeoutMs: 2000 });
        expect(res.status).toBe(413);
        expect(JSON.parse(res.body.toString()).error.code).toBe("EV_ERR_BODY_TOO_LARGE");
        expect(res.header("connection")).toBe("close");
        expect(await c.waitClosed(2000)).toBe(true);
      } finally { c.terminate(); }
    });

    test("chunked bodies: exactly at the limit stored, one byte over refused; an endless one is cut off while reading", async () => {
      const ok = await postChunked(h.port, "/events", eventOfSize(MAX_EVENT));
      expect(ok.status).toBe(201);
      stored++;
      const over = await postChunked(h.port, "/events", eventOfSize(MAX_EVENT + 1));
      expect([over.status, over.json.error.code]).toEqual([413, "EV_ERR_EVENT_TOO_LARGE"]);
      const tiny = await postChunked(h.port, "/events", eventOfSize(200), 7); // many small chunks
      expect(tiny.status).toBe(201);
      stored++;
      for (const [path, limit, code] of [["/events", MAX_BATCH, "EV_ERR_BODY_TOO_LARGE"], ["/events/trading-signal", MAX_EVENT, "EV_ERR_EVENT_TOO_LARGE"], ["/events/ack", MAX_EVENT, "EV_ERR_BODY_TOO_LARGE"]] as const) {
        const r = await endlessChunked(h.port, path);
        expect([r.status, r.json.error.code]).toEqual([413, code]);
        expect(r.closed).toBe(true);
        // answered long before the (never-ending) body could have been buffered: within the limit plus socket buffers
        expect(r.sent).toBeGreaterThan(limit);
        expect(r.sent).toBeLessThan(limit + unreadAllowance());
      }
    });

    test("batches: events of exactly max_event_size stored; one oversize event refuses the whole batch with its index", async () => {
      const small = eventOfSize(100);
      const ok = await created(await post(h.base, "/events", `{"events":[${eventOfSize(MAX_EVENT)},${small},${eventOfSize(MAX_EVENT)}]}`));
      expect(ok.count).toBe(3);
      const before = (await stats(h.base)).length;
      const shapes: [string, string][] = [
        [`{"events":[${small},${eventOfSize(MAX_EVENT + 1)},${small}]}`, "/events/1"],
        [`[${small},${small},${eventOfSize(2 * MB)}]`, "/2"],
        [`[${eventOfSize(MAX_EVENT + 1)}]`, "/0"],
        [`{"events":[ ${eventOfSize(MAX_EVENT + 1)} ]}`, "/events/0"],
      ];
      for (const [text, where] of shapes) {
        expect(await errorOf(await post(h.base, "/events", text))).toEqual({ status: 413, code: "EV_ERR_EVENT_TOO_LARGE", where });
      }
      expect((await stats(h.base)).length).toBe(before);
    });

    test("a batch of exactly max_batch_bytes is stored; one byte more is 413 EV_ERR_BODY_TOO_LARGE, sent framed or chunked", async () => {
      const ok = await created(await post(h.base, "/events", batchOfSize(MAX_BATCH, MAX_EVENT)));
      expect(ok.count).toBeGreaterThanOrEqual(8);
      const before = (await stats(h.base)).length;
      const over = batchOfSize(MAX_BATCH + 1, MAX_EVENT);
      expect(await errorOf(await post(h.base, "/events", over))).toEqual({ status: 413, code: "EV_ERR_BODY_TOO_LARGE", where: "body" });
      const chunked = await postChunked(h.port, "/events", over, 1 << 20);
      expect([chunked.status, chunked.json.error.code]).toEqual([413, "EV_ERR_BODY_TOO_LARGE"]);
      expect((await stats(h.base)).length).toBe(before);
    });

    test("typed routes and ack/replay bodies: max_event_size applies, coded", async () => {
      const signal = (pad: number) => `{"symbol":"BTC/USDT","action":"BUY","confidence":0.5,"note":"${"n".repeat(pad)}"}`;
      // the body is the payload: with the envelope of its type it must fit max_event_size
      const base = signal(0).length + '{"type":"trading.signal","payload":}'.length;
      await created(await post(h.base, "/events/trading-signal", signal(MAX_EVENT - base)));
      expect(await errorOf(await post(h.base, "/events/trading-signal", signal(MAX_EVENT - base + 1)))).toEqual({ status: 413, code: "EV_ERR_EVENT_TOO_LARGE", where: "body" });
      expect((await errorOf(await post(h.base, "/events/market-data", `{"symbol":"X","price":1,"p":"${"p".repeat(10 * MB)}"}`))).code).toBe("EV_ERR_EVENT_TOO_LARGE");
      expect(await errorOf(await post(h.base, "/events/ack", `{"group":"g","ids":[${'"1-1",'.repeat(MB / 6)}"1-1"]}`))).toEqual({ status: 413, code: "EV_ERR_BODY_TOO_LARGE", where: "body" });
      expect((await errorOf(await post(h.base, "/events/replay", `{"types":["${"t".repeat(2 * MB)}"]}`))).code).toBe("EV_ERR_BODY_TOO_LARGE");
      // any content type is held to the same limit
      expect((await errorOf(await post(h.base, "/events/market-data", `"${"p".repeat(2 * MB)}"`, { "content-type": "text/plain" }))).code).toBe("EV_ERR_EVENT_TOO_LARGE");
    });

    test("the typed client reports the coded 413 without retrying", async () => {
      const client = new EventClient({ baseUrl: h.base, source: "limits-test", retries: 3 });
      const err = await client.publish("custom.big", { s: "x".repeat(2 * MB) }).then(() => undefined, (e) => e);
      expect(err).toBeInstanceOf(ServiceError);
      expect([err.status, err.code, err.retryable]).toEqual([413, "EV_ERR_EVENT_TOO_LARGE", false]);
      const batchErr = await client.publishBatch([{ type: "custom.a", payload: {} }, { type: "custom.b", payload: { s: "x".repeat(MB) } }]).then(() => undefined, (e) => e);
      expect([batchErr.status, batchErr.code, batchErr.where]).toEqual([413, "EV_ERR_EVENT_TOO_LARGE", "/events/1"]);
    });

    test("nothing oversize was stored: every event read back is within max_event_size, the count matches the 201s", async () => {
      const page = await (await fetch(`${h.base}/events?limit=1000`)).json();
      expect(page.events.length).toBe(stored);
      expect((await stats(h.base)).length).toBe(stored);
      for (const e of page.events) expect(Buffer.byteLength(JSON.stringify({ type: e.type, payload: e.payload }))).toBeLessThanOrEqual(MAX_EVENT);
      const metrics = await (await fetch(`${h.base}/metrics`)).text();
      const tooLarge = /tradpal_events_rejected_total\{reason="too_large"\} (\d+)/.exec(metrics);
      expect(Number(tooLarge?.[1])).toBeGreaterThanOrEqual(15);
    });
  });
}

describe("limit settings", () => {
  test("sizes over the port's 16 MB body limit, zero, or without a unit-like form are refused; so is max_depth < 2", async () => {
    const { startHost } = await import("../../../test/support/harness");
    const start = (line: string) => startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  events:
    port: 0
    ${line}
`).then(async (t) => { await t.stop(); return "started"; }, (e) => String(e));
    expect(await start("max_event_size: 32mb")).toMatch(/max_event_size must be between 1 byte and 16mb/);
    expect(await start("max_batch_bytes: 0")).toMatch(/max_batch_bytes must be between 1 byte and 16mb/);
    expect(await start("max_event_size: lots")).toMatch(/max_event_size: expected a size like/);
    expect(await start("max_depth: 1")).toMatch(/max_depth/);
    expect(await start("max_event_size: 16mb")).toBe("started");
  });
});
