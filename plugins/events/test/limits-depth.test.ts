/**
 * Depth limit on both stores, with the default max_depth 32 (the event object is level 1, its payload
 * level 2): exactly 32 is stored on every route and in every batch shape, 33 is 400 EV_ERR_TOO_DEEP,
 * and hostile nesting (100k deep, a 1 MB "[[[[…", deep objects, mixed) is a fast 400, never a 500.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { EventClient, ServiceError } from "../../../src/clients/event-client";
import { backends, startEvents, eventOfDepth, nest, post, errorOf, stats, postChunked, MB, MAX_DEPTH, type EventsHost } from "./support";
import { withinDepth } from "../limits";

const KINDS = ["array", "object", "mixed"] as const;

for (const b of backends) {
  describe(`depth limit (${b.name})`, () => {
    let h: EventsHost;
    let stored = 0;
    const created = async (res: Response) => {
      expect(res.status).toBe(201);
      const body = await res.json();
      stored += body.count ?? 1;
      return body;
    };
    beforeAll(async () => { h = await startEvents(b.redis, `depth_${b.name}`); });
    afterAll(async () => { await h.stop(); });

    test("a single event exactly max_depth deep is stored and read back intact; one level more is 400", async () => {
      for (const kind of KINDS) {
        const ok = await created(await post(h.base, "/events", eventOfDepth(MAX_DEPTH, kind)));
        const page = await (await fetch(`${h.base}/events?from_id=${ok.streamId}&to_id=${ok.streamId}`)).json();
        expect(JSON.stringify(page.events[0].payload)).toBe(JSON.stringify(JSON.parse(eventOfDepth(MAX_DEPTH, kind)).payload));
        expect(await errorOf(await post(h.base, "/events", eventOfDepth(MAX_DEPTH + 1, kind)))).toEqual({ status: 400, code: "EV_ERR_TOO_DEEP", where: "/" });
      }
    });

    test("batches: max_depth is per event, whatever the wrapper; the too-deep event is named", async () => {
      const ok = eventOfDepth(MAX_DEPTH);
      const deep = eventOfDepth(MAX_DEPTH + 1, "object");
      expect((await created(await post(h.base, "/events", `{"events":[${ok},${ok}]}`))).count).toBe(2);
      expect((await created(await post(h.base, "/events", `[${ok}]`))).count).toBe(1);
      const before = (await stats(h.base)).length;
      const cases: [string, string][] = [
        [`{"events":[${ok},${deep}]}`, "/events/1"],
        [`[${deep},${ok}]`, "/0"],
        [`[${ok},${ok},${eventOfDepth(MAX_DEPTH + 2, "mixed")}]`, "/2"],
        [`{"events":[${eventOfDepth(MAX_DEPTH + 8)}]}`, "/events/0"],
        [`{"events":[${eventOfDepth(MAX_DEPTH + 20)}]}`, "/"], // far too deep: refused before parsing, no index
      ];
      for (const [text, where] of cases) expect(await errorOf(await post(h.base, "/events", text))).toEqual({ status: 400, code: "EV_ERR_TOO_DEEP", where });
      expect((await stats(h.base)).length).toBe(before);
    });

    test("hostile nesting is a fast 400 on every body-taking route, never a 500", async () => {
      const hostile = [
        nest(100_000), nest(100_000, "object"), nest(100_000, "mixed"),
        "[".repeat(MB - 100), // unbalanced, just under the size limit of every route
        `{"type":"custom.x","payload":{"v":${nest(50_000)}}}`,
        `{"events":[${nest(100_000)}]}`,
        "[".repeat(60), // unbalanced and short
      ];
      const routes = ["/events", "/events/market-data", "/events/trading-signal", "/events/ack", "/events/replay"];
      for (const route of routes) {
        for (const text of hostile) {
          const t0 = performance.now();
          const e = await errorOf(await post(h.base, route, text));
          expect([route, e.status, e.code]).toEqual([route, 400, "EV_ERR_TOO_DEEP"]);
          expect(performance.now() - t0).toBeLessThan(1000);
        }
      }
      const chunked = await postChunked(h.port, "/events", nest(200_000, "mixed"), 4096);
      expect([chunked.status, chunked.json.error.code]).toEqual([400, "EV_ERR_TOO_DEEP"]);
      expect((await fetch(`${h.base}/health`)).status).toBe(200);
    });

    test("brackets inside strings are not nesting: a 100k-bracket string value is stored", async () => {
      const text = JSON.stringify({ type: "custom.brackets", payload: { s: "[{".repeat(50_000) + '\\"[' } });
      await created(await post(h.base, "/events", text));
    });

    test("typed routes count the body as the payload (level 2); ack and replay bodies from level 1", async () => {
      const signal = (levels: number) => `{"symbol":"BTC/USDT","action":"BUY","confidence":0.5,"x":${nest(levels)}}`;
      // payload object (level 2) + x nested 30 → level 32
      await created(await post(h.base, "/events/trading-signal", signal(MAX_DEPTH - 2)));
      expect(await errorOf(await post(h.base, "/events/trading-signal", signal(MAX_DEPTH - 1)))).toEqual({ status: 400, code: "EV_ERR_TOO_DEEP", where: "/" });
      const md = (levels: number) => `{"symbol":"X","price":1,"x":${nest(levels, "object")}}`;
      await created(await post(h.base, "/events/market-data", md(MAX_DEPTH - 2)));
      expect((await errorOf(await post(h.base, "/events/market-data", md(MAX_DEPTH - 1)))).code).toBe("EV_ERR_TOO_DEEP");
      // ack: level 1 body; `ids` 31 levels deep passes the depth check and fails as a bad query
      expect((await errorOf(await post(h.base, "/events/ack", `{"group":"g","ids":${nest(MAX_DEPTH - 1)}}`))).code).toBe("EV_ERR_BAD_QUERY");
      expect((await errorOf(await post(h.base, "/events/ack", `{"group":"g","ids":${nest(MAX_DEPTH)}}`))).code).toBe("EV_ERR_TOO_DEEP");
    });

    test("the typed client reports EV_ERR_TOO_DEEP as a non-retryable ServiceError", async () => {
      const client = new EventClient({ baseUrl: h.base, source: "limits-test" });
      const err = await client.publish("custom.deep", { v: JSON.parse(nest(40)) }).then(() => undefined, (e) => e);
      expect(err).toBeInstanceOf(ServiceError);
      expect([err.status, err.code, err.where, err.retryable]).toEqual([400, "EV_ERR_TOO_DEEP", "/", false]);
    });

    test("events from other plugins (the in-process bus) are held to the same limits", async () => {
      const before = (await stats(h.base)).length;
      const emit = (payload: Record<string, unknown>) => h.t.host.bus.emit("platform.event", { type: "custom.bus", source: "test", payload });
      emit({ v: JSON.parse(nest(MAX_DEPTH + 1)) }); // payload level 2 → 34 levels
      emit({ v: JSON.parse(nest(200_000)) }); // would make JSON.stringify throw RangeError
      emit({ s: "x".repeat(2 * MB) });
      emit({ v: JSON.parse(nest(MAX_DEPTH - 2)) }); // exactly max_depth: stored
      stored++;
      const deadline = Date.now() + 3000;
      while ((await stats(h.base)).length < before + 1 && Date.now() < deadline) await Bun.sleep(10);
      await Bun.sleep(50);
      expect((await stats(h.base)).length).toBe(before + 1);
      expect(h.t.logs.filter((l) => l.msg === "platform.event rejected").map((l) => l.reason)).toEqual(["too_deep", "too_deep", "too_large"]);
    });

    test("nothing too deep was stored; the count matches the 201s; refusals are counted", async () => {
      const page = await (await fetch(`${h.base}/events?limit=1000`)).json();
      expect(page.events.length).toBe(stored);
      for (const e of page.events) expect(withinDepth({ payload: e.payload }, MAX_DEPTH)).toBe(true);
      const metrics = await (await fetch(`${h.base}/metrics`)).text();
      expect(Number(/tradpal_events_rejected_total\{reason="too_deep"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(40);
    });
  });
}
