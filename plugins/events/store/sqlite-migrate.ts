/**
 * Databases made by older versions, moved to the current layout at open (sqlite-store.ts), each move in one
 * transaction and tested on a file made by the old layout (sqlite-migrate*.test.ts).
 */
import type { Database } from "bun:sqlite";
import { EVENT_COLS, pendingTable, streamTable } from "./sqlite-schema";

/**
 * Databases made before the per-stream tables (sqlite-schema.ts) kept every stream's events in one
 * `events` table (seq INTEGER PRIMARY KEY AUTOINCREMENT, with (stream, seq) and (stream, type, seq) indexes).
 * At open they are moved, in one transaction, into each stream's own table with their seqs unchanged (so
 * every stream id, group position and pending entry still names the same event), and the highest seq
 * AUTOINCREMENT ever handed out (trimmed rows included) becomes seq_hw, so new seqs stay above every old one.
 */
export function migrateSharedEvents(db: Database): void {
  const exists = () => db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get() != null;
  if (!exists()) return;
  db.transaction(() => {
    if (!exists()) return; // another connection moved it first
    // The trace context column came later than the table: a database older than it has none.
    const hasTp = db.query<{ name: string }, []>("PRAGMA table_info(events)").all().some((c) => c.name === "tp");
    const cols = hasTp ? EVENT_COLS : EVENT_COLS.replace(/, tp$/, ", NULL");
    const hw = db.query<{ seq: number | null }, []>(
      "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), coalesce((SELECT max(seq) FROM events), 0)) AS seq").get()!.seq ?? 0;
    for (const { stream } of db.query<{ stream: string }, []>("SELECT DISTINCT stream FROM events").all()) {
      const t = streamTable(db, stream);
      db.query(`INSERT INTO ${t} (seq, ${EVENT_COLS}) SELECT seq, ${cols} FROM events WHERE stream = ? ORDER BY seq`).run(stream);
    }
    db.query("INSERT INTO seq_hw (k, seq) VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET seq = max(seq, excluded.seq)").run(hw);
    db.exec("DROP TABLE events");
  }).immediate();
}

/**
 * Databases made before `pending` was WITHOUT ROWID (sqlite-schema.ts pendingTable) have it as a rowid table
 * with its primary key in a second B-tree. At open, in one transaction, its entries (consumer, delivery time,
 * count: every pending entry stays owned and counted as before) are copied into the new layout, which then
 * takes its name and its idle index. Another connection that moved it first is seen under the write lock.
 */
export function migratePendingWithoutRowid(db: Database): void {
  // The table's CREATE text, not pragma_table_list (SQLite 3.37+: Bun on macOS may use an older system SQLite).
  const old = () => {
    const sql = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'pending'").get()?.sql;
    return sql !== undefined && !/\)\s*WITHOUT\s+ROWID\s*$/i.test(sql);
  };
  if (!old()) return;
  db.transaction(() => {
    if (!old()) return;
    db.exec("DROP TABLE IF EXISTS pending_wr"); // never left by a committed migration; defensive
    db.exec(pendingTable("pending_wr"));
    db.exec("INSERT INTO pending_wr (stream, grp, seq, consumer, delivered_at, count) SELECT stream, grp, seq, consumer, delivered_at, count FROM pending");
    db.exec("DROP TABLE pending"); // its indexes (the key's, pending_idle) go with it
    db.exec("ALTER TABLE pending_wr RENAME TO pending");
    db.exec("CREATE INDEX pending_idle ON pending(stream, grp, delivered_at)");
  }).immediate();
}
