/**
 * The embedded store's dedup records (Idempotency-Key records "k:<key>" and event-id records "e:<id>"):
 * an append-only table without an index on the key, and an in-memory index of the live ones. A random key
 * in a B-tree index put every keyed append on a random page (~35 µs vs ~6 µs unkeyed); rows appended in
 * rowid order land on the last page instead, and expired ones are deleted from the front (prune).
 *
 * The row is written in the transaction that stores the events, so a record is durable exactly when its
 * events are; the memory index is rebuilt from the table when the stream is opened (a repeat after a
 * restart is still answered with the first ids). Records put during a transaction are staged and only
 * become live after COMMIT (rolled back with it otherwise), while later appends of the same group commit
 * already see them. Memory holds a live record's key, rowid and expiry only (~170 bytes of heap; the record itself
 * is read back by rowid on a repeat, which is rare): dedup window × publish rate entries, expired ones
 * pruned with the table at every trim.
 */
import type { Database, Statement } from "bun:sqlite";

/** `seq`: the record's rowid in idem_log; OLD_TABLE: in the `idem` table of older versions (looked up by key). */
interface Entry { seq: number; expires: number }
const OLD_TABLE = -1;

/** Most rows one multi-row INSERT carries (4 bound values each). */
const MAX_ROWS = 64;

export class IdemIndex {
  private live = new Map<string, Entry>();
  /** Records of the running transaction: kept whole until it commits. */
  private staged = new Map<string, { rec: string; expires: number; seq: number }>();
  /** Rows of the running transaction not yet written (written by write(), before it commits); one array, emptied, not replaced. */
  private readonly rows: (string | number)[] = [];
  /** Multi-row INSERT statements by row count (built on first use). */
  private readonly inserts = new Map<number, Statement>();
  private readonly bySeq: Statement<{ rec: string }, [number]>;
  private readonly byOldKey: Statement<{ ids: string }, [string, string]>;

  constructor(private readonly db: Database, private readonly stream: string) {
    this.bySeq = db.prepare("SELECT rec FROM idem_log WHERE seq = ?");
    this.byOldKey = db.prepare("SELECT ids FROM idem WHERE stream = ? AND key = ?");
    this.load(Date.now());
  }

  /** Live records from the tables: the `idem` table of older versions first, then the log in write order (the last write of a key wins). */
  private load(now: number): void {
    this.live.clear();
    const old = this.db.query<{ key: string; expires: number }, [string, number]>("SELECT key, expires FROM idem WHERE stream = ? AND expires > ? ORDER BY expires");
    for (const r of old.iterate(this.stream, now)) this.live.set(r.key, { seq: OLD_TABLE, expires: r.expires });
    const log = this.db.query<{ seq: number; key: string; expires: number }, [string, number]>("SELECT seq, key, expires FROM idem_log WHERE stream = ? AND expires > ? ORDER BY seq");
    for (const r of log.iterate(this.stream, now)) { this.live.delete(r.key); this.live.set(r.key, { seq: r.seq, expires: r.expires }); }
  }

  /** The record of `key` if it has not expired (staged ones of the running transaction included). */
  get(key: string, now: number): string | undefined {
    const s = this.staged.get(key);
    if (s !== undefined) return s.expires > now ? s.rec : undefined;
    const e = this.live.get(key);
    if (e === undefined || e.expires <= now) return undefined;
    return e.seq === OLD_TABLE ? this.byOldKey.get(this.stream, key)?.ids : this.bySeq.get(e.seq)?.rec;
  }

  /** Inside the append transaction: the record, staged until commit(); its row is written by write(). */
  put(key: string, rec: string, expires: number): void {
    this.rows.push(this.stream, key, rec, expires);
    this.staged.set(key, { rec, expires, seq: 0 });
  }

  /**
   * Inside the append transaction, after its last put(): the rows, in multi-row INSERTs (one statement per
   * MAX_ROWS records). Rowids of one INSERT are consecutive (one writer in the transaction), so each staged
   * record learns its own from the statement's last.
   */
  write(): void {
    const all = this.rows;
    try {
      for (let at = 0; at < all.length; at += MAX_ROWS * 4) {
        const n = Math.min(MAX_ROWS, (all.length - at) / 4);
        let stmt = this.inserts.get(n);
        if (!stmt) this.inserts.set(n, (stmt = this.db.prepare("INSERT INTO idem_log (stream, key, rec, expires) VALUES " + new Array(n).fill("(?, ?, ?, ?)").join(", "))));
        // One array, bound positionally (no spread); the whole list when one statement takes it all (no copy).
        const values = at === 0 && n * 4 === all.length ? all : all.slice(at, at + n * 4);
        const last = Number(stmt.run(values as unknown as string).lastInsertRowid);
        for (let k = 0; k < n; k++) this.staged.get(all[at + k * 4 + 1] as string)!.seq = last - n + 1 + k;
      }
    } finally {
      all.length = 0;
    }
  }

  /** The transaction committed: its records are live (re-inserted, so map order stays write order). */
  commit(): void {
    if (this.staged.size === 0) return;
    this.staged.forEach(this.makeLive); // no iterator and entry arrays per commit
    this.staged.clear();
  }

  private readonly makeLive = (s: { seq: number; expires: number }, k: string): void => {
    this.live.delete(k);
    this.live.set(k, { seq: s.seq, expires: s.expires });
  };

  /** The transaction rolled back: its records never existed. */
  rollback(): void {
    this.staged.clear();
    this.rows.length = 0;
  }

  /** Drop expired records from memory (oldest first; write order is about expiry order) and from the tables. */
  prune(now: number): void {
    for (const [k, e] of this.live) {
      if (e.expires > now) break;
      this.live.delete(k);
    }
    // The log is in write order, which is about expiry order: delete this stream's expired rows below its oldest
    // live one, a walk of the expired prefix by rowid (a later row that expired sooner waits for that one).
    this.db.query("DELETE FROM idem_log WHERE seq < coalesce((SELECT seq FROM idem_log WHERE stream = ?1 AND expires > ?2 ORDER BY seq LIMIT 1), 9007199254740991) AND stream = ?1 AND expires <= ?2").run(this.stream, now);
    this.db.query("DELETE FROM idem WHERE stream = ? AND expires <= ?").run(this.stream, now);
  }

  /** The stream was destroyed (its rows are deleted by the caller). */
  clear(): void {
    this.live.clear();
    this.staged.clear();
  }

  /** Records held in memory (tests: bounded by the window). */
  get size(): number { return this.live.size; }
}
