/** HTTP API of the events plugin on the embedded store: publish, validation, dedup, reading, stats, metrics. */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { json } from "./support";

const YAML = `
host:
  data_dir: \${DATA_DIR}
plugins:
  events:
    port: 0
    max_batch: 50
    page_limit: 200
`;

let t: TestHost;
let base: string;
const post = (path: string, body: unknown, headers: Record<string, string> = {}) => fetch(base + path, json(body, headers));
const md = (price = 1, symbol = "BTC/USDT") => ({ type: "market.data_update", payload: { symbol, price } });

beforeAll(async () => {
  t = await startHost(YAML);
  base = t.url("events");
});
afterAll(async () => { await t.stop(); });

describe("POST /events", () => {
  test("201 with id and stream id; the stored event carries the full envelope", async () => {
    const res = await post("/events", { ...md(42), correlationId: "corr-1", source: "tests" });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.streamId).toMatch(/^\d+-\d+$/);
    const page = await (await fetch(`${base}/events?from_id=${body.streamId}&to_id=${body.streamId}`)).json();
    expect(page.events).toHaveLength(1);
    const e = page.events[0];
    expect(e).toMatchObject({ id: body.id, streamId: body.streamId, type: "market.data_update", source: "tests", correlationId: "corr-1", schemaVersion: 1, payload: { symbol: "BTC/USDT", price: 42 } });
    expect(Date.parse(e.time)).toBeGreaterThan(Date.now() - 60_000);
  });

  test("400 names the schema path of every violation", async () => {
    const res = await post("/events", { type: "order.filled", payload: { order_id: "o1", symbol: "BTC/USDT", side: "HOLD", quantity: -1 } });
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error.code).toBe("EV_ERR_VALIDATION");
    const wheres = error.details.map((d: any) => d.where).sort();
    expect(wheres).toEqual(["/payload/price", "/payload/quantity", "/payload/side"]);
  });

  test("unknown types are refused; custom.* is accepted with any object payload", async () => {
    const bad = await post("/events", { type: "made.up", payload: {} });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ code: "EV_ERR_UNKNOWN_TYPE", where: "/type" });
    const ok = await post("/events", { type: "custom.my_thing", payload: { anything: [1, 2] } });
    expect(ok.status).toBe(201);
  });

  test("envelope errors: extra keys, bad time, non-object payload, unparsable body", async () => {
    const extra = await post("/events", { ...md(), surprise: 1 });
    expect(extra.status).toBe(400);
    const time = await post("/events", { ...md(), time: "not a time at all" });
    expect((await time.json()).error.where).toBe("/time");
    const payload = await post("/events", { type: "custom.x", payload: "str" });
    expect((await payload.json()).error.where).toBe("/payload");
    const garbage = await fetch(base + "/events", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(garbage.status).toBe(400);
    expect((await garbage.json()).error.code).toBe("EV_ERR_PARSE");
  });

  test("a batch is stored in order; one bad event rejects the whole batch with its index in the path", async () => {
    const before = (await (await fetch(base + "/events/stats")).json()).length;
    const bad = await post("/events", { events: [md(1), md(2), { type: "market.data_update", payload: { symbol: "X" } }] });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.where).toBe("/events/2/payload/price");
    expect((await (await fetch(base + "/events/stats")).json()).length).toBe(before);
    const ok = await post("/events", { events: [md(1), md(2), md(3)] });
    expect(ok.status).toBe(201);
    const body = await ok.json();
    expect(body.count).toBe(3);
    const page = await (await fetch(`${base}/events?from_id=${body.streamIds[0]}&limit=10`)).json();
    expect(page.events.map((e: any) => e.payload.price)).toEqual([1, 2, 3]);
    const arr = await post("/events", [md(4)]);
    expect(arr.status).toBe(201);
  });

  test("batch limits: empty → 400, larger than max_batch → 413", async () => {
    expect((await post("/events", { events: [] })).status).toBe(400);
    const big = await post("/events", { events: Array.from({ length: 51 }, () => md()) });
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe("EV_ERR_BATCH_TOO_LARGE");
  });

  test("Idempotency-Key: a retried publish never produces two events", async () => {
    const key = `k-${crypto.randomUUID()}`;
    const a = await (await post("/events", md(7), { "idempotency-key": key })).json();
    const b = await post("/events", md(7), { "idempotency-key": key });
    expect(b.status).toBe(201);
    const bb = await b.json();
    expect(bb.streamId).toBe(a.streamId);
    expect(bb.duplicate).toBe(true);
    const page = await (await fetch(`${base}/events?from_id=${a.streamId}&types=market.data_update&limit=200`)).json();
    expect(page.events.filter((e: any) => e.streamId === a.streamId)).toHaveLength(1);
    expect((await post("/events", md(), { "idempotency-key": "bad key with spaces" })).status).toBe(400);
  });

  test("an event id given by the publisher is deduplicated", async () => {
    const id = `evt-${crypto.randomUUID()}`;
    const a = await (await post("/events", { ...md(), id })).json();
    const b = await (await post("/events", { ...md(), id })).json();
    expect(b.streamId).toBe(a.streamId);
    expect(b.duplicate).toBe(true);
  });

  test("typed shortcuts: market-data and trading-signal", async () => {
    const m = await post("/events/market-data", { symbol: "ETH/USDT", price: 3000, volume: 2 });
    expect(m.status).toBe(201);
    expect((await m.json()).type).toBe("market.data_update");
    const s = await post("/events/trading-signal", { symbol: "BTC/USDT", action: "BUY", confidence: 0.85 });
    expect(s.status).toBe(201);
    const bad = await post("/events/trading-signal", { symbol: "BTC/USDT", action: "YOLO", confidence: 2 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.details.map((d: any) => d.where).sort()).toEqual(["/payload/action", "/payload/confidence"]);
  });
});

describe("GET /events", () => {
  test("filters by types and source, time range, and pages with a cursor", async () => {
    const src = `pager-${crypto.randomUUID().slice(0, 6)}`;
    const from = Date.now();
    for (let i = 0; i < 25; i++) await post("/events", { type: i % 5 === 0 ? "order.cancelled" : "custom.tick", payload: { order_id: `o${i}`, symbol: "S", i }, source: src });
    const cancelled = await (await fetch(`${base}/events?source=${src}&type=order.cancelled`)).json();
    expect(cancelled.events.map((e: any) => e.payload.i)).toEqual([0, 5, 10, 15, 20]);
    const seen: number[] = [];
    let after = "";
    for (let guard = 0; guard < 10; guard++) {
      const p = await (await fetch(`${base}/events?source=${src}&limit=10&from=${new Date(from).toISOString()}${after ? `&after=${after}` : ""}`)).json();
      seen.push(...p.events.map((e: any) => e.payload.i));
      if (!p.next) break;
      after = p.next;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));
    const none = await (await fetch(`${base}/events?source=${src}&to=${from - 1}`)).json();
    expect(none.events).toEqual([]);
  });

  test("bad query parameters → 400 naming the parameter", async () => {
    for (const [q, where] of [["from=yesterday-ish", "query.from"], ["from_id=abc", "query.from_id"], ["limit=-3", "query.limit"], ["after=1-2-3", "query.after"], ["from=2000&to=1000", "query.from"]]) {
      const res = await fetch(`${base}/events?${q}`);
      expect(res.status).toBe(400);
      expect((await res.json()).error.where).toBe(where);
    }
  });
});

describe("stats, types, metrics", () => {
  test("GET /events/stats", async () => {
    const s = await (await fetch(base + "/events/stats")).json();
    expect(s.stream).toBe("tradpal_events");
    expect(s.backend).toBe("embedded");
    expect(s.length).toBeGreaterThan(10);
    expect(s.firstId).toMatch(/^\d+-\d+$/);
    expect(s.perType["market.data_update"]).toBeGreaterThan(3);
    expect(s.rates.publishPerSecond).toBeGreaterThanOrEqual(0);
    expect(Array.isArray(s.groups)).toBe(true);
    expect(s.deadLetters).toBe(0);
  });

  test("GET /events/types lists at least 25 catalog types", async () => {
    const b = await (await fetch(base + "/events/types")).json();
    expect(b.types.length).toBeGreaterThanOrEqual(25);
    expect(b.types).toContain("order.filled");
    expect(b.constants.MARKET_DATA_UPDATE).toBe("market.data_update");
  });

  test("metrics pass promtool and carry published counts by type", async () => {
    const text = await (await fetch(base + "/metrics")).text();
    expect(text).toMatch(/tradpal_events_published_total\{type="market.data_update"\} \d+/);
    expect(text).toContain("tradpal_events_publish_duration_seconds_bucket");
    expect(text).toContain("tradpal_events_rejected_total{reason=\"validation\"}");
    const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
    const code = await p.exited;
    const err = await new Response(p.stderr).text();
    expect(err.split("\n").filter((l) => l.includes("tradpal_events"))).toEqual([]);
    void code;
  });

  test("platform.event from another plugin (through the bus) is validated and stored", async () => {
    const name = `brk-${crypto.randomUUID().slice(0, 6)}`;
    t.host.bus.emit("platform.event", { type: "breaker.opened", source: "breaker", payload: { breaker: name, from: "closed", to: "open", reason: "5 failures" } });
    t.host.bus.emit("platform.event", { type: "breaker.opened", source: "breaker", payload: { nope: true } }); // invalid: dropped
    await Bun.sleep(50);
    const page = await (await fetch(`${base}/events?types=breaker.opened&source=breaker&limit=200`)).json();
    const mine = page.events.filter((e: any) => e.payload.breaker === name);
    expect(mine).toHaveLength(1);
    expect(page.events.some((e: any) => e.payload.nope)).toBe(false);
  });
});
