/**
 * ONE conformance suite for every EventStore implementation (after Hono's router `common.case.test.ts`):
 * each store's test file calls `eventStoreConformance(name, makeFactory)` and must pass all of it.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import type { EventStore, StoreFactory, TrimPolicy } from "./types";
import { compareIds } from "./types";
import { idempotencyConformance } from "./conformance-idempotency";
import { newEvent, W } from "./conformance-events";

export { newEvent };

export function eventStoreConformance(name: string, makeFactory: (trim: TrimPolicy) => StoreFactory | Promise<StoreFactory>) {
  describe(`EventStore conformance: ${name}`, () => {
    let factory: StoreFactory;
    let trimFactory: StoreFactory;
    const opened: EventStore[] = [];
    const open = (f: StoreFactory = factory) => {
      const s = f.open(`conf_${process.pid}_${Date.now().toString(36)}_${opened.length}`);
      opened.push(s);
      return s;
    };

    beforeAll(async () => {
      factory = await makeFactory({ maxLen: 0, maxAgeMs: 0 });
      trimFactory = await makeFactory({ maxLen: 50, maxAgeMs: 0 });
    });
    afterAll(async () => {
      for (const s of opened) await s.destroy().catch(() => {});
      await factory.close();
      await trimFactory.close();
    });

    idempotencyConformance(() => open());

    test("append returns ordered <ms>-<n> ids and read returns the events unchanged", async () => {
      const s = open();
      const a = newEvent("trading.signal", { symbol: "ETH/USDT", action: "BUY", confidence: 0.5 });
      const r1 = await s.append([a], W);
      const r2 = await s.append([newEvent(), newEvent()], W);
      expect(r1.duplicate).toBe(false);
      const ids = [...r1.streamIds, ...r2.streamIds];
      for (const id of ids) expect(id).toMatch(/^\d+-\d+$/);
      for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1], ids[i])).toBe(-1);
      const page = await s.read({ limit: 10 });
      expect(page.events.map((e) => e.streamId)).toEqual(ids);
      expect(page.events[0]).toEqual({ ...a, streamId: ids[0] });
      expect(page.next).toBeUndefined();
    });

    test("read filters by types, source, id range and time range, and pages with a cursor", async () => {
      const s = open();
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const t = i % 3 === 0 ? "order.placed" : "market.data_update";
        const r = await s.append([newEvent(t, { i }, { source: i % 2 ? "odd" : "even" })], W);
        ids.push(r.streamIds[0]);
      }
      const orders = await s.read({ types: ["order.placed"], limit: 100 });
      expect(orders.events.length).toBe(10);
      expect(orders.events.every((e) => e.type === "order.placed")).toBe(true);
      const odd = await s.read({ source: "odd", limit: 100 });
      expect(odd.events.length).toBe(15);
      const range = await s.read({ fromId: ids[5], toId: ids[9], limit: 100 });
      expect(range.events.map((e) => e.streamId)).toEqual(ids.slice(5, 10));
      // cursor paging walks everything exactly once, in order
      const seen: string[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 20; guard++) {
        const p = await s.read({ afterId: after, limit: 7 });
        seen.push(...p.events.map((e) => e.streamId));
        if (!p.next) break;
        after = p.next;
      }
      expect(seen).toEqual(ids);
      const fromMs = Number(ids[10].split("-")[0]);
      const byTime = await s.read({ fromMs, limit: 100 });
      expect(byTime.events.map((e) => e.streamId)).toEqual(ids.filter((id) => Number(id.split("-")[0]) >= fromMs));
    });

    test("a batch is stored atomically and in order", async () => {
      const s = open();
      const batch = Array.from({ length: 50 }, (_, i) => newEvent("custom.batch", { i }));
      const r = await s.append(batch, W);
      expect(r.streamIds.length).toBe(50);
      const page = await s.read({ limit: 100 });
      expect(page.events.map((e) => (e.payload as any).i)).toEqual(batch.map((_, i) => i));
    });

    test("consumer group: '$' sees only new events; groups load-balance; separate groups each get every event", async () => {
      const s = open();
      await s.append([newEvent()], W);
      await s.ensureGroup("g1", "$");
      await s.ensureGroup("g1", "$"); // idempotent
      await s.ensureGroup("g2", "0");
      const r = await s.append(Array.from({ length: 10 }, () => newEvent()), W);
      const a = await s.readGroup("g1", "a", 4, 0);
      const b = await s.readGroup("g1", "b", 100, 0);
      expect(a.length + b.length).toBe(10);
      expect([...a, ...b].map((d) => d.event.streamId).sort(compareIds)).toEqual(r.streamIds);
      expect(a.every((d) => d.deliveryCount === 1)).toBe(true);
      const g2 = await s.readGroup("g2", "x", 100, 0);
      expect(g2.length).toBe(11);
      expect(await s.readGroup("g1", "a", 10, 0)).toEqual([]);
    });

    test("readGroup blocks until an append arrives", async () => {
      const s = open();
      await s.ensureGroup("g", "$");
      const started = Date.now();
      const pending = s.readGroup("g", "c", 10, 2000);
      await Bun.sleep(50);
      await s.append([newEvent()], W);
      const got = await pending;
      expect(got.length).toBe(1);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(await s.readGroup("g", "c", 10, 100)).toEqual([]);
    });

    test("ack removes from pending; unacked entries are reclaimed after the idle time with a higher delivery count", async () => {
      const s = open();
      await s.ensureGroup("g", "0");
      await s.append(Array.from({ length: 5 }, () => newEvent()), W);
      const got = await s.readGroup("g", "dead", 10, 0);
      expect(await s.ack("g", [got[0].event.streamId, got[1].event.streamId])).toBe(2);
      expect(await s.ack("g", [got[0].event.streamId])).toBe(0);
      const early = await s.claimIdle("g", "alive", 10_000, 10, 5);
      expect(early.deliveries).toEqual([]);
      await Bun.sleep(60);
      const claimed = await s.claimIdle("g", "alive", 50, 10, 5);
      expect(claimed.deliveries.map((d) => d.event.streamId)).toEqual(got.slice(2).map((d) => d.event.streamId));
      expect(claimed.deliveries.every((d) => d.deliveryCount === 2)).toBe(true);
      const st = await s.stats();
      expect(st.groups.find((g) => g.name === "g")!.pending).toBe(3);
    });

    test("a reconnecting consumer gets its own pending entries back", async () => {
      const s = open();
      await s.ensureGroup("g", "0");
      await s.append([newEvent(), newEvent()], W);
      const got = await s.readGroup("g", "c1", 10, 0);
      expect(got.length).toBe(2);
      const again = await s.readOwnPending("g", "c1", 10);
      expect(again.map((d) => d.event.streamId)).toEqual(got.map((d) => d.event.streamId));
      expect(again[0].deliveryCount).toBe(2);
      expect(await s.readOwnPending("g", "other", 10)).toEqual([]);
    });

    test("own pending entries page with a cursor (a big backlog is resumed exactly once)", async () => {
      const s = open();
      await s.ensureGroup("g", "0");
      const ids = (await s.append(Array.from({ length: 250 }, () => newEvent()), W)).streamIds;
      expect((await s.readGroup("g", "c", 1000, 0)).length).toBe(250);
      const seen: string[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 10; guard++) {
        const page = await s.readOwnPending("g", "c", 100, after);
        if (page.length === 0) break;
        seen.push(...page.map((d) => d.event.streamId));
        after = page[page.length - 1].event.streamId;
      }
      expect(seen).toEqual(ids);
    });

    test("poison entry: dead-lettered after maxDeliveries and removed from pending", async () => {
      const s = open();
      await s.ensureGroup("g", "0");
      const [poisonId] = (await s.append([newEvent("custom.poison", { bad: true })], W)).streamIds;
      await s.readGroup("g", "c", 10, 0); // delivery 1
      let dead: string[] = [];
      for (let i = 0; i < 5 && dead.length === 0; i++) {
        await Bun.sleep(15);
        const r = await s.claimIdle("g", "c", 10, 10, 3);
        dead = r.deadLettered.map((e) => e.streamId);
      }
      expect(dead).toEqual([poisonId]);
      const dl = await s.readDeadLetters(10);
      expect(dl.length).toBe(1);
      expect(dl[0].event.streamId).toBe(poisonId);
      expect(dl[0].group).toBe("g");
      expect(dl[0].deliveries).toBeGreaterThanOrEqual(3);
      const st = await s.stats();
      expect(st.deadLetters).toBe(1);
      expect(st.groups[0].pending).toBe(0);
    });

    test("stats: length, first/last id, per-type counts, groups with lag", async () => {
      const s = open();
      const r = await s.append([newEvent("order.placed", {}), newEvent("order.placed", {}), newEvent("order.filled", {})], W);
      await s.ensureGroup("g", "0");
      await s.readGroup("g", "c", 1, 0);
      const st = await s.stats();
      expect(st.length).toBe(3);
      expect(st.firstId).toBe(r.streamIds[0]);
      expect(st.lastId).toBe(r.streamIds[2]);
      expect(st.perType).toEqual({ "order.placed": 2, "order.filled": 1 });
      expect(st.groups).toEqual([{ name: "g", consumers: 1, pending: 1, lastDeliveredId: r.streamIds[0], lag: 2, filter: null }]);
    });

    test("a group's type filter: the first binding wins, later ones read it back; stats show it", async () => {
      const s = open();
      await s.ensureGroup("gf", "0");
      const [a, b] = await Promise.all([s.bindGroupFilter("gf", "custom.a,custom.b"), s.bindGroupFilter("gf", "custom.a")]);
      expect(a).toBe("custom.a,custom.b");
      expect(b).toBe("custom.a,custom.b");
      expect(await s.bindGroupFilter("gf", "*")).toBe("custom.a,custom.b");
      await s.ensureGroup("gf", "$"); // re-ensuring keeps the filter
      expect((await s.stats()).groups.find((g) => g.name === "gf")!.filter).toBe("custom.a,custom.b");
    });

    test("trimming keeps about maxLen entries and reports what it removed", async () => {
      const s = open(trimFactory);
      for (let i = 0; i < 10; i++) await s.append(Array.from({ length: 100 }, () => newEvent()), W);
      await s.trim();
      const st = await s.stats();
      // approximate trimming (Redis MAXLEN ~ trims whole nodes of 100 entries)
      expect(st.length).toBeGreaterThanOrEqual(50);
      expect(st.length).toBeLessThan(1000);
      expect(st.trimmed).toBe(1000 - st.length);
    });

    test("keyed appends (an Idempotency-Key each) are trimmed as plain ones are", async () => {
      const s = open(trimFactory);
      const before = (await s.stats()).length;
      for (let i = 0; i < 10; i++) await s.append(Array.from({ length: 100 }, () => newEvent()), { ...W, idempotencyKey: `trim-${crypto.randomUUID()}`, requestDigest: "d" });
      await s.trim();
      const st = await s.stats();
      expect(st.length).toBeGreaterThanOrEqual(50);
      expect(st.length).toBeLessThan(before + 1000);
    });

    test("trace context: an event's traceparent is stored and comes back on every read path; an event without one has none", async () => {
      const s = open();
      await s.ensureGroup("g", "0");
      const tp = (i: number) => `00-${"ab".repeat(15)}${String(i).padStart(2, "0")}-${"cd".repeat(8)}-01`;
      const traced = newEvent("custom.traced", { i: 0 }, { traceparent: tp(1) });
      const plain = newEvent("custom.plain", { i: 1 });
      // Every append path: coalesced, keyed (Idempotency-Key), deduplicated by id; a mixed batch.
      const ids = [
        ...(await s.append([traced, plain], W)).streamIds,
        ...(await s.append([newEvent("custom.keyed", {}, { traceparent: tp(2) })], { ...W, idempotencyKey: `k-${crypto.randomUUID()}`, requestDigest: "d" })).streamIds,
        ...(await s.append([newEvent("custom.byid", {}, { traceparent: tp(3) })], { ...W, dedupById: true })).streamIds,
      ];
      const want = [tp(1), undefined, tp(2), tp(3)];
      const page = await s.read({ limit: 10 });
      expect(page.events.map((e) => e.streamId)).toEqual(ids);
      expect(page.events.map((e) => e.traceparent)).toEqual(want);
      expect("traceparent" in page.events[1]).toBe(false);
      expect(page.events[0]).toEqual({ ...traced, streamId: ids[0] });
      const got = await s.readGroup("g", "c", 10, 0);
      expect(got.map((d) => d.event.traceparent)).toEqual(want);
      expect((await s.readOwnPending("g", "c", 10)).map((d) => d.event.traceparent)).toEqual(want);
      let dead: string[] = [];
      for (let i = 0; i < 10 && dead.length === 0; i++) {
        await Bun.sleep(15);
        dead = (await s.claimIdle("g", "c", 10, 10, 2)).deadLettered.map((e) => e.traceparent ?? "-");
      }
      expect(dead).toEqual([tp(1), "-", tp(2), tp(3)]);
      expect((await s.readDeadLetters(10)).map((d) => d.event.traceparent)).toEqual(want);
    });

    test("streams are isolated from each other", async () => {
      const a = open();
      const b = open();
      await a.append([newEvent()], W);
      expect((await b.stats()).length).toBe(0);
      expect((await b.read({ limit: 10 })).events).toEqual([]);
    });
  });
}
