/**
 * The conformance suite's idempotency cases (conformance.ts registers them inside its describe, on a
 * fresh store each): Idempotency-Key records, dedup by event id, the dedup window, digest conflicts and
 * concurrent appends under one key.
 */
import { test, expect } from "bun:test";
import type { EventStore } from "./types";
import { newEvent, W } from "./conformance-events";

export function idempotencyConformance(open: () => EventStore): void {
  test("idempotency key: a retried append returns the first ids and stores nothing new", async () => {
    const s = open();
    const first = await s.append([newEvent(), newEvent()], { ...W, idempotencyKey: "req-1" });
    const again = await s.append([newEvent(), newEvent()], { ...W, idempotencyKey: "req-1" });
    expect(again.duplicate).toBe(true);
    expect(again.streamIds).toEqual(first.streamIds);
    expect((await s.stats()).length).toBe(2);
    const other = await s.append([newEvent()], { ...W, idempotencyKey: "req-2" });
    expect(other.duplicate).toBe(false);
  });

  test("dedup by event id, also inside one batch", async () => {
    const s = open();
    const e = newEvent();
    const a = await s.append([e], { ...W, dedupById: true });
    const b = await s.append([e, newEvent(), e], { ...W, dedupById: true });
    expect(b.streamIds[0]).toBe(a.streamIds[0]);
    expect(b.streamIds[2]).toBe(a.streamIds[0]);
    expect(b.duplicate).toBe(false);
    expect((await s.stats()).length).toBe(2);
  });

  test("dedup window expires", async () => {
    const s = open();
    await s.append([newEvent()], { dedupWindowMs: 50, idempotencyKey: "short" });
    await Bun.sleep(120);
    const again = await s.append([newEvent()], { dedupWindowMs: 50, idempotencyKey: "short" });
    expect(again.duplicate).toBe(false);
  });

  test("idempotency key: a repeat answers the first event ids and positions; another digest is a conflict", async () => {
    const s = open();
    const first = [newEvent(), newEvent()];
    const r1 = await s.append(first, { ...W, idempotencyKey: "dig-1", requestDigest: "d1" });
    const r2 = await s.append([newEvent(), newEvent()], { ...W, idempotencyKey: "dig-1", requestDigest: "d1" });
    expect(r2).toEqual({ streamIds: r1.streamIds, eventIds: first.map((e) => e.id), duplicate: true });
    const err = await s.append([newEvent()], { ...W, idempotencyKey: "dig-1", requestDigest: "d2" }).catch((e) => e);
    expect(err?.name).toBe("IdempotencyConflictError");
    expect(err.original.s).toEqual(r1.streamIds);
    expect((await s.read({ limit: 10 })).events.map((e) => e.id)).toEqual(first.map((e) => e.id));
  });

  test("50 concurrent appends with one key store one request; all answer its ids", async () => {
    const s = open();
    const rs = await Promise.all(Array.from({ length: 50 }, () => s.append([newEvent()], { ...W, idempotencyKey: "race", requestDigest: "same" })));
    const page = await s.read({ limit: 100 });
    expect(page.events).toHaveLength(1);
    for (const r of rs) expect(r.streamIds).toEqual([page.events[0].streamId]);
    expect(rs.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(rs.map((r) => (r.eventIds ?? [])[0] ?? page.events[0].id))).toEqual(new Set([page.events[0].id]));
  });
}
