/**
 * Blocked readers served from the rows their append inserted (sqlite-fresh.ts, sqlite-groups.ts readInTx):
 * what they get equals, field for field, what reading the rows back returns, and their pending entries and
 * group positions are the SQL read's; a group behind the rows before the transaction still reads with SQL.
 */
import { afterAll, afterEach, expect, spyOn, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { newEvent, W } from "./conformance-events";
import { FreshRows } from "./sqlite-fresh";
import { toEvent, type EventRow } from "./sqlite-schema";
import { createEmbeddedFactory } from "./sqlite-store";
import type { Delivery, EventStore, NewEvent, StoredEvent } from "./types";

const dir = tempDir("tradpal-events-fresh-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const served = spyOn(FreshRows.prototype, "delivery");
afterEach(() => served.mockClear());
let n = 0;
const open = (maxLen = 0) => {
  const file = join(dir, `f-${n++}.db`);
  return { file, f: createEmbeddedFactory({ file, sync: "normal", trim: { maxLen, maxAgeMs: 0 } }) };
};

/** The row an event is stored as (sqlite-append.ts). */
const row = (e: NewEvent, seq: number, ms: number): EventRow => ({
  seq, ms, eid: e.id, type: e.type, source: e.source, time: e.time, cid: e.correlationId, ver: e.schemaVersion, payload: JSON.stringify(e.payload), tp: e.traceparent ?? null,
});

test("FreshRows: only inside a transaction and for a group caught up with the rows before it; a row's delivery is its toEvent read", () => {
  const f = new FreshRows();
  expect(f.firstAfter(0)).toBe(-1); // no transaction open
  f.open(10);
  const tp = `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01`;
  const e1 = newEvent("custom.a", { n: 1, s: "é\u2028", deep: { l: [1, null, { x: true }] }, gone: undefined, at: new Date(5) }, { traceparent: tp });
  const e2 = newEvent("custom.b", { n: 2 }, { traceparent: "" });
  const e3 = newEvent("custom.a", { n: 3 });
  for (const [e, seq] of [[e1, 12], [e2, 15], [e3, 16]] as const) f.add(seq, `7-${seq}`, e, JSON.stringify(e.payload));
  expect(f.firstAfter(9)).toBe(-1); // the row at seq 10 (or others before this transaction) may lie past it
  expect([f.firstAfter(10), f.firstAfter(12), f.firstAfter(15), f.firstAfter(99)]).toEqual([0, 1, 2, 3]);
  expect([f.seq(1), f.streamId(1), f.length]).toEqual([15, "7-15", 3]);
  const want = [row(e1, 12, 7), row(e2, 15, 7), row(e3, 16, 7)].map((r) => ({ event: toEvent(r), deliveryCount: 1 }));
  expect([f.delivery(0), f.delivery(1), f.delivery(2)]).toStrictEqual(want);
  // The stored text's payload: a fresh object per delivery, not the publisher's (changed after the append here).
  (e1.payload as Record<string, unknown>).n = 99;
  expect(f.delivery(0)).toStrictEqual(want[0]);
  expect(f.delivery(0).event.payload).not.toBe(f.delivery(0).event.payload);
  f.close();
  expect([f.firstAfter(99), f.length]).toEqual([-1, 0]);
  f.add(20, "7-20", e3, "{}"); // outside a transaction: not kept
  expect(f.length).toBe(0);
});

/** A reader of `group` blocked on `s` (its consumer seen first, so it waits on the probe), with what it gets. */
async function blocked(s: EventStore, group: string, consumer: string, count = 10): Promise<{ got: Promise<Delivery[]> }> {
  await s.readGroup(group, consumer, count, 0);
  const got = s.readGroup(group, consumer, count, 5000);
  await Bun.sleep(10);
  return { got }; // wrapped: an async function's returned promise would be awaited
}

/** Every delivery equals the event read back (toEvent) and is pending for its consumer, once. */
async function checkAgainstSql(s: EventStore, group: string, consumer: string, got: Delivery[]): Promise<void> {
  const byId = new Map<string, StoredEvent>((await s.read({ limit: 1000 })).events.map((e) => [e.streamId, e]));
  for (const d of got) expect(d).toStrictEqual({ event: byId.get(d.event.streamId)!, deliveryCount: 1 });
  const again = await s.readOwnPending(group, consumer, 1000);
  expect(again.map((d) => d.event.streamId)).toEqual(got.map((d) => d.event.streamId));
  expect(again.map((d) => d.event)).toStrictEqual(got.map((d) => d.event));
}

test("embedded: caught-up blocked readers (several groups, a typed group, two readers of one group, a count below the batch) are served from memory as the SQL read would", async () => {
  const { f } = open();
  try {
    const s = f.open("many");
    await s.append([newEvent("custom.before")], W);
    for (const g of ["all", "typed", "shared"]) await s.ensureGroup(g, "$");
    expect(await s.bindGroupFilter("typed", "custom.a")).toBe("custom.a");
    const all = await blocked(s, "all", "c1");
    const typed = await blocked(s, "typed", "c1");
    const first = await blocked(s, "shared", "c1", 2);
    const second = await blocked(s, "shared", "c2", 10);
    const tp = `00-${"12".repeat(16)}-${"34".repeat(8)}-01`;
    // One group commit of three appends (the same turn): four events.
    const stored = Promise.all([
      s.append([newEvent("custom.a", { i: 1, nested: { x: [1, 2] } }, { traceparent: tp })], W),
      s.append([newEvent("custom.b", { i: 2 }), newEvent("custom.a", { i: 3 })], W),
      s.append([newEvent("custom.b", { i: 4, gone: undefined })], { ...W, dedupById: true }),
    ]);
    const ids = (await stored).flatMap((r) => r.streamIds);
    const [a, t, s1, s2] = await Promise.all([all.got, typed.got, first.got, second.got]);
    // The store delivers every type to a typed group (its subscription acks the others unsent: subscribe.ts), as the SQL read does.
    expect(a.map((d) => d.event.streamId)).toEqual(ids);
    expect(t.map((d) => d.event.streamId)).toEqual(ids);
    expect(s1.map((d) => d.event.streamId)).toEqual(ids.slice(0, 2)); // its count
    expect(s2.map((d) => d.event.streamId)).toEqual(ids.slice(2)); // the rest, once each in the group
    expect(a[0].event.traceparent).toBe(tp);
    expect(served).toHaveBeenCalledTimes(12);
    await checkAgainstSql(s, "all", "c1", a);
    await checkAgainstSql(s, "typed", "c1", t);
    await checkAgainstSql(s, "shared", "c1", s1);
    await checkAgainstSql(s, "shared", "c2", s2);
    const st = await s.stats();
    expect(st.groups.map((g) => [g.name, g.pending, g.lag, g.lastDeliveredId])).toEqual([["all", 4, 0, ids[3]], ["shared", 4, 0, ids[3]], ["typed", 4, 0, ids[3]]]);
  } finally { await f.close(); }
});

test("embedded: a trimmed stream's caught-up reader is served from memory; a group behind rows another connection appended reads them with SQL in the append's transaction", async () => {
  const { file, f } = open(2);
  try {
    const s = f.open("trimmed");
    for (let i = 0; i < 5; i++) await s.append([newEvent("custom.t", { i })], W);
    expect(await s.trim()).toBe(3);
    await s.ensureGroup("g", "$");
    const r1 = await blocked(s, "g", "c");
    const id1 = (await s.append([newEvent("custom.t", { i: 5 })], W)).streamIds;
    const got1 = await r1.got;
    expect(got1.map((d) => d.event.streamId)).toEqual(id1);
    expect(served).toHaveBeenCalledTimes(1);
    await checkAgainstSql(s, "g", "c", got1);
    await s.ack("g", id1);

    // Another connection appends a row without this process' wake-up; this store's next append finds the
    // group behind it: both rows come from the SQL read, in the append's transaction (pending at once).
    served.mockClear();
    const r2 = await blocked(s, "g", "c");
    const other = new Database(file);
    const seq = 1000;
    other.query("INSERT INTO ev_1 (seq, ms, eid, type, source, time, cid, ver, payload, tp) VALUES (?, ?, 'other-1', 'custom.o', 'x', '2026-01-01T00:00:00.000Z', 'c', 1, '{\"o\":1}', NULL)").run(seq, Date.now());
    other.close();
    const id2 = (await s.append([newEvent("custom.t", { i: 6 })], W)).streamIds;
    expect((await s.stats()).groups[0].pending).toBe(2);
    const got2 = await r2.got;
    expect(got2.map((d) => d.event.id)[0]).toBe("other-1");
    expect(got2[1].event.streamId).toBe(id2[0]);
    expect(served).toHaveBeenCalledTimes(0);
    await checkAgainstSql(s, "g", "c", got2);
  } finally { await f.close(); }
});
