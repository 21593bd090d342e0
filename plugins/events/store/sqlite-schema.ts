/**
 * Tables of the embedded store (one database, many streams). Each stream's events are a table of their own
 * (streamTable: ev_<n>, the rowid is seq), so an append writes two B-trees (the rows, the type index) and
 * trimming deletes a rowid prefix; one shared table with (stream, seq) and (stream, type, seq) indexes cost
 * a third B-tree and AUTOINCREMENT's sqlite_sequence write per append (older databases are moved over at
 * open: sqlite-migrate.ts). Stream ids are "<ms>-<seq>": seq comes from one counter per database (SeqCounter,
 * never reused) and ms never goes backwards within a stream, so ordering by seq is ordering by id. Typed
 * reads name their index (INDEXED BY): the planner may otherwise scan the rowids and sort, fatal at millions of rows.
 */
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { splitId, type StoredEvent } from "./types";

/** Past every seq: "none" in seq searches. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export type SyncMode = "normal" | "full";

/**
 * A group's delivered, unacknowledged entries. WITHOUT ROWID: the primary key is the table's one B-tree (a
 * rowid table kept it in a second one), so each delivery's INSERT and each ack's DELETE dirty one page
 * (one 4 KiB WAL frame) less. Databases made with the rowid table are moved over at open (sqlite-migrate.ts).
 */
export function pendingTable(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
  stream TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL, consumer TEXT NOT NULL,
  delivered_at INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (stream, grp, seq)
) WITHOUT ROWID;`;
}

const DDL = `
-- streams: a stream's events live in table ev_<id> (streamTable).
CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- seq_hw: the highest seq handed out, written where rows are deleted (trimming, destroy), so a seq is never reused.
CREATE TABLE IF NOT EXISTS seq_hw (k INTEGER PRIMARY KEY CHECK (k = 0), seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (stream TEXT NOT NULL, name TEXT NOT NULL, last_seq INTEGER NOT NULL, last_id TEXT NOT NULL, PRIMARY KEY (stream, name));
CREATE TABLE IF NOT EXISTS consumers (stream TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (stream, grp, name));
${pendingTable("pending")}
CREATE INDEX IF NOT EXISTS pending_idle ON pending(stream, grp, delivered_at);
CREATE TABLE IF NOT EXISTS dlq (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, grp TEXT NOT NULL, deliveries INTEGER NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dlq_stream ON dlq(stream, id);
-- idem: dedup records of older versions (read at open until they expire); new ones go to idem_log (sqlite-idem.ts).
CREATE TABLE IF NOT EXISTS idem (stream TEXT NOT NULL, key TEXT NOT NULL, ids TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (stream, key));
CREATE INDEX IF NOT EXISTS idem_expires ON idem(stream, expires);
-- idem_log: append-only, no index beyond the rowid (sqlite-idem.ts: a key index made every keyed append a random B-tree insert).
CREATE TABLE IF NOT EXISTS idem_log (seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, key TEXT NOT NULL, rec TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (stream TEXT PRIMARY KEY, trimmed INTEGER NOT NULL DEFAULT 0);
`;

/**
 * WAL journal. synchronous=NORMAL: a commit is written to the WAL file (the OS page cache) before
 * COMMIT returns, so it survives the process being killed (SIGKILL, crash); only an OS crash or power
 * loss can lose the last commits. synchronous=FULL also fsyncs the WAL on every commit (survives power
 * loss, several times slower per single-event publish).
 */
export function openDatabase(file: string, sync: SyncMode): Database {
  if (file !== ":memory:") restrictFiles(file);
  const db = new Database(file, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA foreign_keys = OFF");
  db.exec(DDL);
  // A group's type filter (fixed by its first subscription); added to databases made before it existed.
  const cols = db.query<{ name: string }, []>("PRAGMA table_info(groups)").all();
  if (!cols.some((c) => c.name === "filter")) db.exec("ALTER TABLE groups ADD COLUMN filter TEXT");
  return db;
}

/** The columns of a stream's table after seq (one list for the DDL, the appends and the migration). */
export const EVENT_COLS = "ms, eid, type, source, time, cid, ver, payload, tp";

/** The table of a stream's events (created on first use): rowid = seq, and a (type, seq) index for typed reads. */
export function streamTable(db: Database, stream: string): string {
  // One transaction: a streams row never names a table that does not exist (SeqCounter reads them all).
  return db.transaction(() => {
    db.query("INSERT OR IGNORE INTO streams (name) VALUES (?)").run(stream);
    const t = `ev_${db.query<{ id: number }, [string]>("SELECT id FROM streams WHERE name = ?").get(stream)!.id}`;
    db.exec(`CREATE TABLE IF NOT EXISTS ${t} (seq INTEGER PRIMARY KEY, ms INTEGER NOT NULL, eid TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,
      time TEXT NOT NULL, cid TEXT NOT NULL, ver INTEGER NOT NULL, payload TEXT NOT NULL, tp TEXT);
    CREATE INDEX IF NOT EXISTS ${t}_type ON ${t}(type, seq);`);
    return t;
  }).immediate();
}

/**
 * The seqs of one database, for all its streams: the next is one past the highest ever handed out (kept in
 * memory; at open the larger of seq_hw and every stream's last row). Appends bind their seqs, so no
 * AUTOINCREMENT bookkeeping is written per commit; a seq taken by a rolled-back transaction is skipped, never reused.
 */
export class SeqCounter {
  last: number;

  constructor(private readonly db: Database) {
    let last = db.query<{ seq: number }, []>("SELECT seq FROM seq_hw WHERE k = 0").get()?.seq ?? 0;
    for (const { id } of db.query<{ id: number }, []>("SELECT id FROM streams").all()) {
      last = Math.max(last, db.query<{ seq: number }, []>(`SELECT seq FROM ev_${id} ORDER BY seq DESC LIMIT 1`).get()?.seq ?? 0);
    }
    this.last = last;
  }

  /** Seqs handed out elsewhere (another connection) up to `seq`. */
  atLeast(seq: number): void {
    if (seq > this.last) this.last = seq;
  }

  /** `n` consecutive seqs; the first. */
  take(n: number): number {
    const first = this.last + 1;
    this.last += n;
    return first;
  }

  /** Inside a transaction that deletes events: the high-water mark outlives the rows that held it. */
  keep(): void {
    this.db.query("INSERT INTO seq_hw (k, seq) VALUES (0, ?) ON CONFLICT(k) DO UPDATE SET seq = max(seq, excluded.seq)").run(this.last);
  }
}

/**
 * Events are private data: the directory is 0700 and every store file 0600. The database file is
 * created 0600 before SQLite opens it, and SQLite gives its -wal, -shm and -journal files the mode of
 * the database file; files left looser by an older version are tightened here, at every open.
 */
function restrictFiles(file: string): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  closeSync(openSync(file, "a", 0o600));
  const base = basename(file);
  for (const name of readdirSync(dir)) if (name.startsWith(base)) chmodSync(join(dir, name), 0o600);
}

export interface EventRow {
  seq: number;
  ms: number;
  eid: string;
  type: string;
  source: string;
  time: string;
  cid: string;
  ver: number;
  payload: string;
  /** traceparent of the publish (NULL when none). */
  tp: string | null;
}

export function toEvent(r: EventRow): StoredEvent {
  return storedEvent(r.eid, `${r.ms}-${r.seq}`, r.type, r.source, r.time, r.cid, r.ver, JSON.parse(r.payload), r.tp);
}

/**
 * A stored event from its columns: the one definition of its shape and key order (a delivery's SSE data is
 * its JSON), for rows read back (toEvent) and rows served from memory by their append (sqlite-fresh.ts).
 */
export function storedEvent(id: string, streamId: string, type: string, source: string, time: string, cid: string, ver: number, payload: unknown, tp: string | null | undefined): StoredEvent {
  const e: StoredEvent = { id, streamId, type: type as StoredEvent["type"], source, time, correlationId: cid, schemaVersion: ver, payload: payload as StoredEvent["payload"] };
  if (tp) e.traceparent = tp;
  return e;
}

/** The seq of a stream id ("<ms>-<seq>"). */
export function seqOf(streamId: string): number {
  return splitId(streamId)[1];
}
