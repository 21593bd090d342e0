/**
 * A database made when `pending` was a rowid table (its primary key a second B-tree) opens with `pending`
 * WITHOUT ROWID (sqlite-migrate.ts migratePendingWithoutRowid) and every pending entry intact: owner,
 * delivery time and count, so resumes, idle reclaim, dead letters and acks go on as before.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { newEvent } from "./conformance-events";
import { createEmbeddedFactory } from "./sqlite-store";

const dir = tempDir("tradpal-events-migrate-pending-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The layout of the version before (per-stream tables, `pending` a rowid table), as its openDatabase and streamTable left it. */
const OLD_DDL = `
CREATE TABLE streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE seq_hw (k INTEGER PRIMARY KEY CHECK (k = 0), seq INTEGER NOT NULL);
CREATE TABLE groups (stream TEXT NOT NULL, name TEXT NOT NULL, last_seq INTEGER NOT NULL, last_id TEXT NOT NULL, PRIMARY KEY (stream, name));
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
ALTER TABLE groups ADD COLUMN filter TEXT;
INSERT INTO streams (id, name) VALUES (1, 's');
CREATE TABLE ev_1 (seq INTEGER PRIMARY KEY, ms INTEGER NOT NULL, eid TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,
  time TEXT NOT NULL, cid TEXT NOT NULL, ver INTEGER NOT NULL, payload TEXT NOT NULL, tp TEXT);
CREATE INDEX ev_1_type ON ev_1(type, seq);
`;

/** Events e1..e4 (seqs 1..4) of stream s; group g delivered up to e3: e1, e2 to c1 long ago (idle), e3 to c2 just now, delivered thrice. */
function writeOldDatabase(file: string, now: number): void {
  const db = new Database(file, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(OLD_DDL);
  for (let i = 1; i <= 4; i++) {
    db.query("INSERT INTO ev_1 (seq, ms, eid, type, source, time, cid, ver, payload, tp) VALUES (?, 1000, ?, 'custom.x', 'api', '2026-01-01T00:00:00.000Z', 'c', 1, ?, NULL)").run(i, `e${i}`, JSON.stringify({ i }));
  }
  db.exec("INSERT INTO groups (stream, name, last_seq, last_id, filter) VALUES ('s', 'g', 3, '1000-3', '*')");
  const add = db.query("INSERT INTO pending (stream, grp, seq, consumer, delivered_at, count) VALUES ('s', 'g', ?, ?, ?, ?)");
  add.run(1, "c1", 1, 1);
  add.run(2, "c1", 1, 2);
  add.run(3, "c2", now, 3);
  db.close();
}

const layout = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return {
      wr: db.query<{ wr: number }, []>("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = 'pending'").get()?.wr,
      indexes: db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'pending' AND sql IS NOT NULL").all().map((r) => r.name),
      tables: db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'pending%'").all().map((r) => r.name),
      rows: db.query("SELECT stream, grp, seq, consumer, delivered_at, count FROM pending ORDER BY seq").all(),
    };
  } finally { db.close(); }
};

test("embedded: a database with the rowid pending table opens with it WITHOUT ROWID and every pending entry (owner, time, count) intact", async () => {
  const file = join(dir, "old.db");
  const now = Date.now();
  writeOldDatabase(file, now);
  const before = layout(file);
  expect(before.wr).toBe(0);
  const opts = { file, sync: "normal" as const, trim: { maxLen: 0, maxAgeMs: 0 } };
  const f = createEmbeddedFactory(opts);
  const after = layout(file);
  expect(after).toEqual({ wr: 1, indexes: ["pending_idle"], tables: ["pending"], rows: before.rows });
  const s = f.open("s");
  expect((await s.stats()).groups).toEqual([expect.objectContaining({ name: "g", pending: 3, lag: 1, lastDeliveredId: "1000-3" })]);
  // The idle index still finds c1's entries; the delivery counts go on (e2, delivered twice, reaches max_deliveries 2: dead-lettered).
  const claimed = await s.claimIdle("g", "c3", 60_000, 10, 2);
  expect(claimed.deliveries.map((d) => [d.event.id, d.deliveryCount])).toEqual([["e1", 2]]);
  expect(claimed.deadLettered.map((e) => e.id)).toEqual(["e2"]);
  // c2's entry is still its own, delivered three times; the group goes on after its position.
  expect((await s.readOwnPending("g", "c2", 10)).map((d) => [d.event.id, d.deliveryCount, d.event.payload])).toEqual([["e3", 4, { i: 3 }]]);
  expect((await s.readGroup("g", "c2", 10, 0)).map((d) => d.event.id)).toEqual(["e4"]);
  expect(await s.ack("g", ["1000-1", "1000-3"])).toBe(2);
  const r = await s.append([newEvent("custom.y")], { dedupWindowMs: 0 });
  expect((await s.readGroup("g", "c1", 10, 0)).map((d) => d.event.streamId)).toEqual(r.streamIds);
  expect((await s.stats()).groups[0].pending).toBe(2); // e4 (c2) and the new one (c1)
  await f.close();

  // A second open finds nothing to move: the same table, the same entries.
  const rows = layout(file).rows;
  const again = createEmbeddedFactory(opts);
  expect(layout(file)).toEqual({ wr: 1, indexes: ["pending_idle"], tables: ["pending"], rows });
  expect((await again.open("s").readOwnPending("g", "c2", 10)).map((d) => [d.event.id, d.deliveryCount])).toEqual([["e4", 2]]);
  await again.close();
});

test("embedded: two connections opening an old database move pending once", async () => {
  const file = join(dir, "two.db");
  writeOldDatabase(file, Date.now());
  const rows = layout(file).rows;
  const opts = { file, sync: "normal" as const, trim: { maxLen: 0, maxAgeMs: 0 } };
  const [a, b] = [createEmbeddedFactory(opts), createEmbeddedFactory(opts)];
  expect(layout(file)).toEqual({ wr: 1, indexes: ["pending_idle"], tables: ["pending"], rows });
  expect((await b.open("s").stats()).groups[0].pending).toBe(3);
  await a.close();
  await b.close();
});
