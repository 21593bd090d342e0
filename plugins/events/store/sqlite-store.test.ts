/** The conformance suite against the embedded bun:sqlite store (temp database file). */
import { afterAll, test, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { eventStoreConformance, newEvent } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";

const dir = tempDir("tradpal-events-sqlite-");
let i = 0;
eventStoreConformance("embedded (bun:sqlite)", (trim) => createEmbeddedFactory({ file: join(dir, `events-${i++}.db`), sync: "normal", trim }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("embedded: trimming a backlog larger than one step, by length and by age, keeps counts right", async () => {
  const f = createEmbeddedFactory({ file: join(dir, "trim-steps.db"), sync: "normal", trim: { maxLen: 100, maxAgeMs: 0 } });
  const s = f.open("steps");
  for (let i = 0; i < 5; i++) await s.append(Array.from({ length: 1000 }, (_, j) => newEvent(j % 2 ? "custom.odd" : "custom.even", { j })), { dedupWindowMs: 0 });
  expect(await s.trim()).toBe(4900);
  const st = await s.stats();
  expect(st.length).toBe(100);
  expect(st.trimmed).toBe(4900);
  expect(st.perType).toEqual({ "custom.odd": 50, "custom.even": 50 });
  const page = await s.read({ limit: 1000 });
  expect(page.events.length).toBe(100);
  expect(page.events[0].streamId).toBe(st.firstId!);

  const aged = createEmbeddedFactory({ file: join(dir, "trim-age.db"), sync: "normal", trim: { maxLen: 0, maxAgeMs: 50 } });
  const a = aged.open("aged");
  await a.append(Array.from({ length: 3000 }, () => newEvent()), { dedupWindowMs: 0 });
  await Bun.sleep(80);
  const fresh = await a.append([newEvent()], { dedupWindowMs: 0 });
  expect(await a.trim()).toBe(3000);
  expect((await a.stats()).firstId).toBe(fresh.streamIds[0]);
  await f.close();
  await aged.close();
});

test("embedded: one group commit of many appends (multi-row inserts, keyed ones between them) answers each its own stream ids", async () => {
  const f = createEmbeddedFactory({ file: join(dir, "group-commit.db"), sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  const s = f.open("group");
  // Same event-loop turn: one transaction. 200 appends of 1-3 events (runs longer than one 64-row INSERT), every 7th keyed.
  const batches = Array.from({ length: 200 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, j) => newEvent(`custom.g${j}`, { i, j })));
  const results = await Promise.all(batches.map((b, i) => s.append(b, i % 7 === 0 ? { dedupWindowMs: 60_000, idempotencyKey: `key-${i}`, requestDigest: "d" } : { dedupWindowMs: 0 })));
  const page = await s.read({ limit: 1000 });
  const byStreamId = new Map(page.events.map((e) => [e.streamId, e.id]));
  expect(page.events.length).toBe(batches.flat().length);
  for (let i = 0; i < batches.length; i++) expect(results[i].streamIds.map((id) => byStreamId.get(id))).toEqual(batches[i].map((e) => e.id));
  // Stored in the order the appends were made.
  expect(page.events.map((e) => e.id)).toEqual(batches.flat().map((e) => e.id));
  expect((await s.stats()).perType).toEqual({ "custom.g0": 200, "custom.g1": 133, "custom.g2": 66 });
  await f.close();
});

test("embedded: time bounds (searched over the seq index) are exact on a stream whose seqs are interleaved with another's", async () => {
  const f = createEmbeddedFactory({ file: join(dir, "time-bounds.db"), sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  const a = f.open("a");
  const b = f.open("b");
  for (let i = 0; i < 60; i++) {
    await a.append(Array.from({ length: 1 + (i % 4) }, () => newEvent()), { dedupWindowMs: 0 });
    await b.append([newEvent(), newEvent()], { dedupWindowMs: 0 }); // gaps in a's seqs
    if (i % 3 === 0) await Bun.sleep(2); // several events per ms, and several ms
  }
  const all = (await a.read({ limit: 1000 })).events;
  const msOf = (id: string) => Number(id.split("-")[0]);
  const times = [...new Set(all.map((e) => msOf(e.streamId)))];
  const probes = [times[0] - 1, times[0], ...times.slice(1, -1).filter((_, i) => i % 3 === 0), times[times.length - 1], times[times.length - 1] + 1];
  for (const from of probes) {
    for (const to of probes) {
      const got = (await a.read({ fromMs: from, toMs: to, limit: 1000 })).events.map((e) => e.streamId);
      expect(got).toEqual(all.filter((e) => msOf(e.streamId) >= from && msOf(e.streamId) <= to).map((e) => e.streamId));
    }
  }
  // from_id / to_id inside one ms (a bound between two events of the same ms).
  const mid = all[Math.floor(all.length / 2)].streamId;
  expect((await a.read({ fromId: mid, limit: 1000 })).events[0].streamId).toBe(mid);
  expect((await a.read({ toId: mid, limit: 1000 })).events.at(-1)!.streamId).toBe(mid);
  expect((await a.read({ fromMs: times[times.length - 1] + 1, limit: 10 })).events).toEqual([]);
  await f.close();
});

test("embedded: max_len trimming is exact on a stream whose seqs are interleaved with another's and on one without gaps", async () => {
  const f = createEmbeddedFactory({ file: join(dir, "trim-gaps.db"), sync: "normal", trim: { maxLen: 30, maxAgeMs: 0 } });
  const a = f.open("a");
  const b = f.open("b");
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    ids.push(...(await a.append([newEvent(), newEvent()], { dedupWindowMs: 0 })).streamIds);
    await b.append(Array.from({ length: 1 + (i % 3) }, () => newEvent()), { dedupWindowMs: 0 }); // gaps in a's seqs
  }
  expect(await a.trim()).toBe(50);
  expect((await a.read({ limit: 100 })).events.map((e) => e.streamId)).toEqual(ids.slice(50));
  expect(await b.trim()).toBe(79 - 30); // 1 + (i % 3) events for i < 40
  await b.destroy();
  // Now a's seqs continue without gaps from b: the arithmetic cut must still be exact.
  for (let i = 0; i < 10; i++) ids.push(...(await a.append([newEvent(), newEvent(), newEvent()], { dedupWindowMs: 0 })).streamIds);
  expect(await a.trim()).toBe(30);
  const st = await a.stats();
  expect([st.length, st.firstId, st.trimmed]).toEqual([30, ids[ids.length - 30], 80]);
});
