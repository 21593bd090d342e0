/**
 * Idempotent publishing on both stores: a repeat of a key answers the first request's event ids and
 * stream positions (which exist: read back), the same key with another body is 409
 * EV_ERR_IDEMPOTENCY_CONFLICT and stores nothing, 50 concurrent publishes with one key store one event.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";
import { json, dropStreamKeys } from "./support";

const backends = [
  { name: "embedded", redis: "" },
  { name: "redis", redis: SHARED_REDIS_URL },
];

for (const b of backends) {
  describe(`idempotency (${b.name})`, () => {
    const stream = `test_idem_${process.pid}_${Date.now().toString(36)}_${b.name}`;
    let t: TestHost;
    let base: string;
    const post = (path: string, body: unknown, key?: string) => fetch(`${base}${path}`, json(body, key ? { "idempotency-key": key } : {}));
    const postRaw = (text: string, key: string) => fetch(`${base}/events`, { method: "POST", headers: { "content-type": "application/json", "idempotency-key": key }, body: text });
    /** Every stored event of `type` (read back from the store). */
    const stored = async (type: string) => (await (await fetch(`${base}/events?types=${type}&limit=1000`)).json()).events as any[];
    const uniq = () => `custom.t${crypto.randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      t = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  redis_url: "${b.redis}"\nplugins:\n  events:\n    port: 0\n    stream: ${stream}\n`);
      base = t.url("events");
    });
    afterAll(async () => {
      if (b.redis) await dropStreamKeys(b.redis, stream);
      await t.stop();
    });

    test("a repeated single publish answers the first id and position, which exist; key order and spacing do not matter", async () => {
      const type = uniq();
      const key = `k-${crypto.randomUUID()}`;
      const r1 = await post("/events", { type, payload: { n: 1, m: { a: 1, b: 2 } } }, key);
      expect(r1.status).toBe(201);
      const first = await r1.json();
      expect(first.duplicate).toBe(false);
      for (const text of [JSON.stringify({ type, payload: { n: 1, m: { a: 1, b: 2 } } }), `{ "payload": { "m": { "b": 2, "a": 1 }, "n": 1 }, "type": "${type}" }`]) {
        const r = await postRaw(text, key);
        expect(r.status).toBe(201);
        expect(await r.json()).toEqual({ id: first.id, streamId: first.streamId, duplicate: true });
      }
      const all = await stored(type);
      expect(all.map((e) => [e.id, e.streamId])).toEqual([[first.id, first.streamId]]);
    });

    test("a repeated batch answers every original id and position; the typed shortcut too", async () => {
      const type = uniq();
      const key = `kb-${crypto.randomUUID()}`;
      const events = Array.from({ length: 5 }, (_, i) => ({ type, payload: { i } }));
      const first = await (await post("/events", { events }, key)).json();
      const again = await (await post("/events", { events }, key)).json();
      expect(again).toEqual({ count: 5, ids: first.ids, streamIds: first.streamIds, duplicate: true });
      const bare = await (await post("/events", events, key)).json(); // the same events as a bare array: the same body
      expect(bare.ids).toEqual(first.ids);
      expect((await stored(type)).map((e) => [e.id, e.streamId])).toEqual(first.ids.map((id: string, i: number) => [id, first.streamIds[i]]));

      const sk = `ks-${crypto.randomUUID()}`;
      const signal = { symbol: "BTC/USDT", action: "BUY", confidence: 0.5 };
      const s1 = await (await post("/events/trading-signal", signal, sk)).json();
      const s2 = await (await post("/events/trading-signal", signal, sk)).json();
      expect(s2).toEqual({ ...s1, duplicate: true });
      const back = await (await fetch(`${base}/events?from_id=${s1.streamId}&to_id=${s1.streamId}`)).json();
      expect(back.events.map((e: any) => e.id)).toEqual([s1.id]);
    });

    test("the same key with another body is 409 EV_ERR_IDEMPOTENCY_CONFLICT and stores nothing (several variants)", async () => {
      const type = uniq();
      const key = `kc-${crypto.randomUUID()}`;
      const first = await (await post("/events", { events: [{ type, payload: { n: 1 } }, { type, payload: { n: 2 } }] }, key)).json();
      const variants: unknown[] = [
        { events: [{ type, payload: { n: 1 } }, { type, payload: { n: 3 } }] }, // one payload value
        { events: [{ type, payload: { n: 2 } }, { type, payload: { n: 1 } }] }, // order of events
        { events: [{ type, payload: { n: 1 } }] }, // fewer events
        { events: [{ type, payload: { n: 1 } }, { type, payload: { n: 2 } }, { type, payload: { n: 2 } }] }, // more
        { events: [{ type, payload: { n: 1 } }, { type: `${type}x`, payload: { n: 2 } }] }, // a type
        { events: [{ type, payload: { n: 1 }, source: "other" }, { type, payload: { n: 2 } }] }, // an envelope field
        { type, payload: { n: 1 } }, // a single event
      ];
      for (const body of variants) {
        const r = await post("/events", body, key);
        expect(r.status).toBe(409);
        const e = (await r.json()).error;
        expect(e.code).toBe("EV_ERR_IDEMPOTENCY_CONFLICT");
        expect(e.where).toBe("header.idempotency-key");
        expect(e.details.streamIds).toEqual(first.streamIds);
      }
      const sk = `ksc-${crypto.randomUUID()}`;
      expect((await post("/events/market-data", { symbol: "X", price: 1 }, sk)).status).toBe(201);
      const sr = await post("/events/market-data", { symbol: "X", price: 2 }, sk);
      expect(sr.status).toBe(409);
      expect((await sr.json()).error.code).toBe("EV_ERR_IDEMPOTENCY_CONFLICT");
      expect((await stored(type)).map((e) => e.streamId)).toEqual(first.streamIds);
      expect((await stored(`${type}x`))).toEqual([]);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/tradpal_events_rejected_total\{[^}]*reason="idempotency_conflict"[^}]*\} (\d+)/);
    });

    test("events that carry their own ids: each duplicate answers its original position", async () => {
      const type = uniq();
      const [a, c] = [`ev-${crypto.randomUUID()}`, `ev-${crypto.randomUUID()}`];
      const r1 = await (await post("/events", { events: [{ id: a, type, payload: { n: 1 } }] })).json();
      const r2 = await (await post("/events", { events: [{ id: a, type, payload: { n: 1 } }, { id: c, type, payload: { n: 2 } }] })).json();
      expect(r2.ids).toEqual([a, c]);
      expect(r2.streamIds[0]).toBe(r1.streamIds[0]);
      expect(r2.duplicate).toBe(false);
      const all = await stored(type);
      expect(all.map((e) => [e.id, e.streamId])).toEqual([[a, r1.streamIds[0]], [c, r2.streamIds[1]]]);
    });

    test("50 concurrent publishes with one key store exactly one event, and all answer it", async () => {
      const type = uniq();
      const key = `kr-${crypto.randomUUID()}`;
      const rs = await Promise.all(Array.from({ length: 50 }, () => post("/events", { type, payload: { n: 1 } }, key).then(async (r) => ({ status: r.status, body: await r.json() }))));
      const all = await stored(type);
      expect(all).toHaveLength(1);
      for (const r of rs) {
        expect(r.status).toBe(201);
        expect([r.body.id, r.body.streamId]).toEqual([all[0].id, all[0].streamId]);
      }
      expect(rs.filter((r) => !r.body.duplicate)).toHaveLength(1);
    });
  });
}
