/**
 * Databases made before the per-stream tables (sqlite-schema.ts) kept every stream's events in one
 * `events` table (seq INTEGER PRIMARY KEY AUTOINCREMENT, with (stream, seq) and (stream, type, seq) indexes).
 * At open they are moved, in one transaction, into each stream's own table with their seqs unchanged (so
 * every stream id, group position and pending entry still names the same event), and the highest seq
 * AUTOINCREMENT ever handed out (trimmed rows included) becomes seq_hw, so new seqs stay above every old one.
 */
import type { Database } from "bun:sqlite";
import { EVENT_COLS, streamTable } from "./sqlite-schema";

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
