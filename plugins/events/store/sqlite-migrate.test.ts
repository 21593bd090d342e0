/**
 * A database made by the shared-table layout (one `events` table for every stream, AUTOINCREMENT seqs) opens
 * with every event, group, pending entry and dedup record intact, and new seqs stay above every old one.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { encodeRecord } from "../idempotency";
import { newEvent } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";
import { seqOf } from "./sqlite-schema";

const dir = tempDir("tradpal-events-migrate-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The DDL of the shared-table layout (as the last version before per-stream tables left it, `tp` and `filter` added). */
const OLD_DDL = `
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL, ms INTEGER NOT NULL, eid TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,
  time TEXT NOT NULL, cid TEXT NOT NULL, ver INTEGER NOT NULL, payload TEXT NOT NULL, tp TEXT
);
CREATE INDEX events_stream_seq ON events(stream, seq);
CREATE INDEX events_stream_type ON events(stream, type, seq);
CREATE TABLE groups (stream TEXT NOT NULL, name TEXT NOT NULL, last_seq INTEGER NOT NULL, last_id TEXT NOT NULL, filter TEXT, PRIMARY KEY (stream, name));
CREATE TABLE consumers (stream TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (stream, grp, name));
CREATE TABLE pending (
  stream TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL, consumer TEXT NOT NULL,
  delivered_at INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (stream, grp, seq)
);
CREATE INDEX pending_idle ON pending(stream, grp, delivered_at);
CREATE TABLE dlq (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, grp TEXT NOT NULL, deliveries INTEGER NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL);
CREATE INDEX dlq_stream ON dlq(stream, id);
CREATE TABLE idem (stream TEXT NOT NULL, key TEXT NOT NULL, ids TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (stream, key));
CREATE INDEX idem_expires ON idem(stream, expires);
CREATE TABLE idem_log (seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, key TEXT NOT NULL, rec TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE meta (stream TEXT PRIMARY KEY, trimmed INTEGER NOT NULL DEFAULT 0);
`;

interface OldRow { seq: number; stream: string; ms: number; eid: string; type: string; tp: string | null }

/** An old-layout database: streams a and b interleaved, then c's rows (the highest seqs) deleted, a group with two pending entries, a key record. */
function writeOldDatabase(file: string): OldRow[] {
  const db = new Database(file, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(OLD_DDL);
  const ins = db.query<{ seq: number }, [string, number, string, string, string | null]>(
    "INSERT INTO events (stream, ms, eid, type, source, time, cid, ver, payload, tp) VALUES (?, ?, ?, ?, 'api', '2026-01-01T00:00:00Z', 'c', 1, '{\"i\":1}', ?) RETURNING seq");
  const rows: OldRow[] = [];
  const add = (stream: string, ms: number, type: string, tp: string | null = null) => {
    const eid = crypto.randomUUID();
    rows.push({ seq: ins.get(stream, ms, eid, type, tp)!.seq, stream, ms, eid, type, tp });
  };
  for (let i = 0; i < 4; i++) { add("a", 1000 + i, i % 2 ? "custom.odd" : "custom.even", i === 1 ? `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01` : null); add("b", 1000 + i, "custom.b"); }
  add("c", 2000, "custom.c"); add("c", 2001, "custom.c");
  db.exec("DELETE FROM events WHERE stream = 'c'"); // the highest seqs are gone, AUTOINCREMENT remembers them
  const a = rows.filter((r) => r.stream === "a");
  db.query("INSERT INTO groups (stream, name, last_seq, last_id, filter) VALUES ('a', 'g', ?, ?, 'custom.*')").run(a[1].seq, `${a[1].ms}-${a[1].seq}`);
  for (const r of a.slice(0, 2)) db.query("INSERT INTO pending (stream, grp, seq, consumer, delivered_at, count) VALUES ('a', 'g', ?, 'c1', 1, 1)").run(r.seq);
  db.query("INSERT INTO meta (stream, trimmed) VALUES ('a', 7)").run();
  db.query("INSERT INTO idem_log (stream, key, rec, expires) VALUES ('a', 'k:key-1', ?, ?)").run(encodeRecord({ d: "digest", e: [a[3].eid], s: [`${a[3].ms}-${a[3].seq}`] }), Date.now() + 600_000);
  db.close();
  return rows.filter((r) => r.stream !== "c");
}

test("embedded: a database of the shared-table layout opens with every event, group, pending entry and key record; new seqs stay above the old", async () => {
  const file = join(dir, "old.db");
  const old = writeOldDatabase(file);
  const highest = 10; // c's deleted rows held seqs 9 and 10
  const f = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  const a = f.open("a");
  const b = f.open("b");
  for (const [s, name] of [[a, "a"], [b, "b"]] as const) {
    const want = old.filter((r) => r.stream === name);
    const got = (await s.read({ limit: 100 })).events;
    expect(got.map((e) => [e.streamId, e.id, e.type, e.traceparent ?? null])).toEqual(want.map((r) => [`${r.ms}-${r.seq}`, r.eid, r.type, r.tp]));
  }
  const oa = old.filter((r) => r.stream === "a");
  const st = await a.stats();
  expect(st).toMatchObject({ length: 4, trimmed: 7, perType: { "custom.even": 2, "custom.odd": 2 }, firstId: `${oa[0].ms}-${oa[0].seq}`, lastId: `${oa[3].ms}-${oa[3].seq}` });
  expect(st.groups).toEqual([expect.objectContaining({ name: "g", filter: "custom.*", pending: 2, lag: 2, lastDeliveredId: `${oa[1].ms}-${oa[1].seq}` })]);
  // Typed reads go through the new table's type index.
  expect((await a.read({ types: ["custom.odd"], limit: 10 })).events.map((e) => e.id)).toEqual([oa[1].eid, oa[3].eid]);
  // Pending entries come back to their consumer; the group goes on after its position.
  expect((await a.readOwnPending("g", "c1", 10)).map((d) => [d.event.id, d.deliveryCount])).toEqual([[oa[0].eid, 2], [oa[1].eid, 2]]);
  expect((await a.readGroup("g", "c2", 10, 0)).map((d) => d.event.id)).toEqual([oa[2].eid, oa[3].eid]);
  // The key record still answers.
  const dup = await a.append([newEvent()], { dedupWindowMs: 600_000, idempotencyKey: "key-1", requestDigest: "digest" });
  expect(dup).toMatchObject({ duplicate: true, streamIds: [`${oa[3].ms}-${oa[3].seq}`] });
  // New seqs above every old one, the deleted ones included, in both streams.
  const fresh = [...(await a.append([newEvent()], { dedupWindowMs: 0 })).streamIds, ...(await b.append([newEvent()], { dedupWindowMs: 0 })).streamIds];
  expect(fresh.map(seqOf)).toEqual([highest + 1, highest + 2]);
  await f.close();

  // The old table is gone and a second open finds nothing to move; the seqs go on.
  const raw = new Database(file);
  expect(raw.query("SELECT name FROM sqlite_master WHERE name = 'events'").all()).toEqual([]);
  raw.close();
  const again = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  expect((await again.open("a").stats()).length).toBe(5);
  expect(seqOf((await again.open("b").append([newEvent()], { dedupWindowMs: 0 })).streamIds[0])).toBe(highest + 3);
  await again.close();
});

test("embedded: a database older than the trace context column opens too (its events have none)", async () => {
  const file = join(dir, "older.db");
  const db = new Database(file, { create: true });
  db.exec(OLD_DDL.replace(", tp TEXT\n", "\n"));
  db.exec("INSERT INTO events (stream, ms, eid, type, source, time, cid, ver, payload) VALUES ('a', 5, 'e1', 'custom.x', 'api', 't', 'c', 1, '{}')");
  db.close();
  const f = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  const got = (await f.open("a").read({ limit: 10 })).events;
  expect(got.map((e) => [e.streamId, e.id, "traceparent" in e])).toEqual([["5-1", "e1", false]]);
  await f.close();
});

test("embedded: a seq is never reused once the rows that held the highest are deleted (destroy, trimming), across a reopen", async () => {
  const file = join(dir, "hw.db");
  const f = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 1 } });
  const last = async (s: ReturnType<typeof f.open>) => seqOf((await s.append([newEvent()], { dedupWindowMs: 0 })).streamIds[0]);
  const top = await last(f.open("x"));
  await f.open("x").destroy();
  await f.close();
  let g = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 1 } });
  const next = await last(g.open("y"));
  expect(next).toBeGreaterThan(top);
  await Bun.sleep(5);
  expect(await g.open("y").trim()).toBe(1); // age trimming took the only, highest row
  await g.close();
  g = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  expect(await last(g.open("y"))).toBeGreaterThan(next);
  await g.close();
});

test("embedded: two connections to one file appending to one stream take increasing seqs, none twice", async () => {
  const file = join(dir, "two.db");
  const f1 = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  const f2 = createEmbeddedFactory({ file, sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) for (const f of [f1, f2]) ids.push(...(await f.open("s").append([newEvent(), newEvent()], { dedupWindowMs: 0 })).streamIds);
  const seqs = ids.map(seqOf);
  expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  expect(new Set(seqs).size).toBe(20);
  expect((await f1.open("s").read({ limit: 100 })).events.map((e) => e.streamId)).toEqual(ids);
  await f1.close();
  await f2.close();
});
