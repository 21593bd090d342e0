/**
 * Embedded EventStore on bun:sqlite (the default: nothing to install). Same semantics as the Redis
 * store: "<ms>-<n>" ids, consumer groups with pending entries, idle reclaim with delivery counts,
 * dead letters after N deliveries, dedup window, trimming. Every append is one transaction, committed
 * before the promise resolves, so a 201 survives a crash of the process (see sqlite-schema.ts).
 */
import type { Database } from "bun:sqlite";
import { MAX_SEQ, SEQ_INDEX, openDatabase, type EventRow, type SyncMode } from "./sqlite-schema";
import { IdemIndex } from "./sqlite-idem";
import { SqliteAppender, type StreamCounts } from "./sqlite-append";
import { SqliteTrimmer } from "./sqlite-trim";
import { BlockedReads } from "./sqlite-blocked";
import {
  splitId, type AppendOptions, type AppendResult, type ClaimResult, type DeadLetter, type Delivery, type EventStore,
  type NewEvent, type ReadPage, type ReadQuery, type StoreFactory, type StoreStats, type StoredEvent, type TrimPolicy,
} from "./types";


/** A consumer's seen_at (consumers table) is refreshed at most this often: a write per read cost a WAL frame each. */
const SEEN_EVERY_MS = 1000;

function toEvent(r: EventRow): StoredEvent {
  const e: StoredEvent = { id: r.eid, streamId: `${r.ms}-${r.seq}`, type: r.type as StoredEvent["type"], source: r.source, time: r.time, correlationId: r.cid, schemaVersion: r.ver, payload: JSON.parse(r.payload) };
  if (r.tp) e.traceparent = r.tp;
  return e;
}

function seqOf(streamId: string): number {
  return splitId(streamId)[1];
}

class SqliteEventStore implements EventStore {
  readonly kind = "embedded" as const;
  private readonly appender: SqliteAppender;
  private readonly counts: StreamCounts = { rows: 0, perType: new Map() };
  private readonly readGroupTx;
  private readonly ownPendingTx;
  private readonly ackTx;
  private readonly claimTx;
  private readonly trimmer: SqliteTrimmer;
  /** When each consumer's row was last written (group NUL consumer → ms): seen_at is refreshed at most every SEEN_EVERY_MS. */
  private readonly seenWritten = new Map<string, number>();
  private newProbe?: ReturnType<Database["prepare"]>;
  private readonly blocked: BlockedReads;

  constructor(private readonly db: Database, readonly stream: string, private readonly policy: TrimPolicy, private readonly idem: IdemIndex, private readonly onClose: () => void) {
    this.blocked = new BlockedReads(stream);
    this.counts.rows = db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM events WHERE stream = ?").get(stream)!.n;
    for (const r of db.query<{ type: string; n: number }, [string]>("SELECT type, count(*) AS n FROM events WHERE stream = ? GROUP BY type").all(stream)) this.counts.perType.set(r.type, r.n);
    this.readGroupTx = db.transaction((g: string, c: string, n: number) => this.readGroupTxFn(g, c, n));
    this.appender = new SqliteAppender(db, stream, idem, this.counts, this.blocked, (g, c, n) => this.readGroupTxFn(g, c, n));
    this.ownPendingTx = db.transaction((g: string, c: string, n: number, after: number) => this.ownPendingTxFn(g, c, n, after));
    this.ackTx = db.transaction((g: string, ids: string[]) => this.ackTxFn(g, ids));
    this.claimTx = db.transaction((g: string, c: string, idle: number, n: number, max: number) => this.claimTxFn(g, c, idle, n, max));
    this.trimmer = new SqliteTrimmer(db, stream, policy, this.counts, (m) => this.firstSeqAtMs(m, false));
  }

  /** Group commit: see sqlite-append.ts. */
  append(events: NewEvent[], opts: AppendOptions): Promise<AppendResult> {
    return this.appender.append(events, opts);
  }

  /**
   * First seq of this stream whose ms is >= m (> m when strict), MAX_SEQ when none. ms never decreases
   * along seq within a stream (nowMs()), so "the first row at or after seq x is late enough" is monotone in
   * x: a binary search over seq through the (stream, seq) index, ~log2(seq range) probes. A (stream, ms,
   * seq) index answered this in one probe but cost every append another b-tree insert (~1.2 µs/event,
   * measured); these lookups run only for time and from_id/to_id bounds and age trimming.
   */
  private firstSeqAtMs(m: number, strict: boolean): number {
    const late = (r: { ms: number } | null | undefined): boolean => r != null && (strict ? r.ms > m : r.ms >= m);
    const at = this.seqProbe;
    const first = at.get(this.stream, 0);
    if (first == null) return MAX_SEQ;
    if (late(first)) return first.seq;
    const last = this.db.query<{ seq: number; ms: number }, [string]>(`SELECT seq, ms FROM ${SEQ_INDEX} WHERE stream = ? ORDER BY seq DESC LIMIT 1`).get(this.stream)!;
    if (!late(last)) return MAX_SEQ;
    // Invariant: the row at or after lo is early, the row at or after hi is late.
    let lo = first.seq;
    let hi = last.seq;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (late(at.get(this.stream, mid))) hi = mid;
      else lo = mid;
    }
    return at.get(this.stream, hi)!.seq;
  }
  /** The first row of this stream at or after a seq (firstSeqAtMs's probe). */
  private get seqProbe() {
    return this.db.query<{ seq: number; ms: number }, [string, number]>(`SELECT seq, ms FROM ${SEQ_INDEX} WHERE stream = ? AND seq >= ? ORDER BY seq LIMIT 1`);
  }

  /** Smallest seq bound such that seq >= bound ⇔ (ms, seq) >= (m, n) (ms never decreases along seq). */
  private lowerSeq(m: number, n: number): number {
    const a = this.firstSeqAtMs(m, false);
    const b = this.firstSeqAtMs(m, true);
    return n <= a ? a : n < b ? n : b;
  }

  /** Largest seq bound such that seq <= bound ⇔ (ms, seq) <= (m, n). */
  private upperSeq(m: number, n: number): number {
    const a = this.firstSeqAtMs(m, false);
    if (a === MAX_SEQ) return MAX_SEQ;
    const b = this.firstSeqAtMs(m, true);
    return n >= b - 1 ? b - 1 : n >= a ? n : a - 1;
  }

  async read(q: ReadQuery): Promise<ReadPage> {
    let lo = 0;
    let hi = MAX_SEQ;
    if (q.afterId) lo = Math.max(lo, seqOf(q.afterId) + 1);
    if (q.fromId) { const [m, n] = splitId(q.fromId); lo = Math.max(lo, this.lowerSeq(m, q.fromId.includes("-") ? n : 0)); }
    if (q.fromMs !== undefined) lo = Math.max(lo, this.lowerSeq(q.fromMs, 0));
    if (q.toId) { const [m, n] = splitId(q.toId); hi = Math.min(hi, this.upperSeq(m, q.toId.includes("-") ? n : MAX_SEQ)); }
    if (q.toMs !== undefined) hi = Math.min(hi, this.upperSeq(q.toMs, MAX_SEQ));
    if (lo > hi) return { events: [] };
    const src = q.source ? " AND source = ?" : "";
    const tail = q.source ? [q.source, q.limit + 1] : [q.limit + 1];
    let rows: EventRow[];
    if (!q.types || q.types.length === 0) {
      rows = this.db.query<EventRow, (string | number)[]>(`SELECT * FROM ${SEQ_INDEX} WHERE stream = ? AND seq >= ? AND seq <= ?${src} ORDER BY seq LIMIT ?`).all(this.stream, lo, hi, ...tail);
    } else {
      // One ordered index range per type, merged (an IN list would make SQLite sort every match).
      const byType = this.db.query<EventRow, (string | number)[]>(`SELECT * FROM events INDEXED BY events_stream_type WHERE stream = ? AND type = ? AND seq >= ? AND seq <= ?${src} ORDER BY seq LIMIT ?`);
      rows = [...new Set(q.types)].flatMap((t) => byType.all(this.stream, t, lo, hi, ...tail)).sort((x, y) => x.seq - y.seq).slice(0, q.limit + 1);
    }
    const more = rows.length > q.limit;
    const events = (more ? rows.slice(0, q.limit) : rows).map(toEvent);
    return { events, next: more ? events[events.length - 1].streamId : undefined };
  }

  async ensureGroup(group: string, start: string): Promise<void> {
    let lastSeq = 0;
    let lastId = "0-0";
    if (start === "$") {
      const r = this.db.query<{ seq: number; ms: number }, [string]>(`SELECT seq, ms FROM ${SEQ_INDEX} WHERE stream = ? ORDER BY seq DESC LIMIT 1`).get(this.stream);
      if (r) { lastSeq = r.seq; lastId = `${r.ms}-${r.seq}`; }
    } else if (start !== "0" && start !== "0-0") {
      const [m, n] = splitId(start);
      const bound = this.upperSeq(m, start.includes("-") ? n : MAX_SEQ);
      const r = this.db.query<{ seq: number; ms: number }, [string, number]>(`SELECT seq, ms FROM ${SEQ_INDEX} WHERE stream = ? AND seq <= ? ORDER BY seq DESC LIMIT 1`).get(this.stream, bound);
      if (r) { lastSeq = r.seq; lastId = `${r.ms}-${r.seq}`; }
    }
    this.db.query("INSERT OR IGNORE INTO groups (stream, name, last_seq, last_id) VALUES (?, ?, ?, ?)").run(this.stream, group, lastSeq, lastId);
  }

  async bindGroupFilter(group: string, filter: string): Promise<string> {
    // One statement: the first binding wins, a concurrent second one reads it back.
    this.db.query("UPDATE groups SET filter = ? WHERE stream = ? AND name = ? AND filter IS NULL").run(filter, this.stream, group);
    const r = this.db.query<{ filter: string | null }, [string, string]>("SELECT filter FROM groups WHERE stream = ? AND name = ?").get(this.stream, group);
    if (!r) throw new Error(`NOGROUP no such group ${group}`);
    return r.filter ?? filter;
  }

  private readGroupTxFn = ((group: string, consumer: string, count: number): Delivery[] => {
    const g = this.db.query<{ last_seq: number }, [string, string]>("SELECT last_seq FROM groups WHERE stream = ? AND name = ?").get(this.stream, group);
    if (!g) throw new Error(`NOGROUP no such group ${group}`);
    const now = Date.now();
    const seenKey = group + "\0" + consumer;
    if (now - (this.seenWritten.get(seenKey) ?? -Infinity) >= SEEN_EVERY_MS) {
      this.db.query("INSERT OR REPLACE INTO consumers (stream, grp, name, seen_at) VALUES (?, ?, ?, ?)").run(this.stream, group, consumer, now);
      this.seenWritten.set(seenKey, now);
    }
    const rows = this.db.query<EventRow, [string, number, number]>(`SELECT * FROM ${SEQ_INDEX} WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?`).all(this.stream, g.last_seq, count);
    if (rows.length === 0) return [];
    const add = this.db.query("INSERT OR REPLACE INTO pending (stream, grp, seq, consumer, delivered_at, count) VALUES (?, ?, ?, ?, ?, 1)");
    for (const r of rows) add.run(this.stream, group, r.seq, consumer, now);
    const last = rows[rows.length - 1];
    this.db.query("UPDATE groups SET last_seq = ?, last_id = ? WHERE stream = ? AND name = ?").run(last.seq, `${last.ms}-${last.seq}`, this.stream, group);
    return rows.map((r) => ({ event: toEvent(r), deliveryCount: 1 }));
  });

  /** Whether the group has an entry past its last delivered one (read-only: no transaction, no write). */
  private hasNew(group: string): boolean {
    this.newProbe ??= this.db.prepare(`SELECT 1 AS x FROM ${SEQ_INDEX} WHERE stream = ?1 AND seq > (SELECT last_seq FROM groups WHERE stream = ?1 AND name = ?2) LIMIT 1`);
    return this.newProbe.get(this.stream, group) != null;
  }

  async readGroup(group: string, consumer: string, count: number, blockMs: number): Promise<Delivery[]> {
    // A consumer seen within the second whose group has nothing new waits first: a read-only probe instead
    // of a write transaction that finds nothing (one per delivery, and ~28 % of the server at 1,000/s).
    // The wait returns what the append's own transaction read for this reader (sqlite-blocked.ts), if it did.
    if (blockMs > 0 && Date.now() - (this.seenWritten.get(group + "\0" + consumer) ?? -Infinity) < SEEN_EVERY_MS && !this.hasNew(group)) {
      return (await this.blocked.wait(group, consumer, count, blockMs)) ?? (this.readGroupTx.immediate(group, consumer, count) as Delivery[]);
    }
    const first = this.readGroupTx.immediate(group, consumer, count) as Delivery[];
    if (first.length > 0 || blockMs <= 0) return first;
    return (await this.blocked.wait(group, consumer, count, blockMs)) ?? (this.readGroupTx.immediate(group, consumer, count) as Delivery[]);
  }

  private ownPendingTxFn = ((group: string, consumer: string, count: number, afterSeq: number): Delivery[] => {
    const rows = this.db.query<EventRow & { count: number }, [string, string, string, number, number]>(
      "SELECT e.*, p.count AS count FROM pending p JOIN events e ON e.seq = p.seq WHERE p.stream = ? AND p.grp = ? AND p.consumer = ? AND p.seq > ? ORDER BY p.seq LIMIT ?").all(this.stream, group, consumer, afterSeq, count);
    const now = Date.now();
    const bump = this.db.query("UPDATE pending SET delivered_at = ?, count = count + 1 WHERE stream = ? AND grp = ? AND seq = ?");
    for (const r of rows) bump.run(now, this.stream, group, r.seq);
    return rows.map((r) => ({ event: toEvent(r), deliveryCount: r.count + 1 }));
  });

  async readOwnPending(group: string, consumer: string, count: number, afterId?: string): Promise<Delivery[]> {
    return this.ownPendingTx.immediate(group, consumer, count, afterId ? seqOf(afterId) : 0) as Delivery[];
  }

  private ackTxFn = ((group: string, ids: string[]): number => {
    const del = this.db.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND seq = ?");
    let n = 0;
    for (const id of ids) n += del.run(this.stream, group, seqOf(id)).changes;
    return n;
  });

  async ack(group: string, streamIds: string[]): Promise<number> {
    return streamIds.length === 0 ? 0 : (this.ackTx.immediate(group, streamIds) as number);
  }

  private claimTxFn = ((group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): ClaimResult => {
    const now = Date.now();
    const rows = this.db.query<Partial<EventRow> & { pseq: number; count: number }, [string, string, number, number]>(
      "SELECT p.seq AS pseq, p.count AS count, e.* FROM pending p LEFT JOIN events e ON e.seq = p.seq WHERE p.stream = ? AND p.grp = ? AND p.delivered_at <= ? ORDER BY p.seq LIMIT ?",
    ).all(this.stream, group, now - minIdleMs, count);
    const out: ClaimResult = { deliveries: [], deadLettered: [] };
    const drop = this.db.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND seq = ?");
    const move = this.db.query("UPDATE pending SET consumer = ?, delivered_at = ?, count = count + 1 WHERE stream = ? AND grp = ? AND seq = ?");
    const dead = this.db.query("INSERT INTO dlq (stream, grp, deliveries, at, event) VALUES (?, ?, ?, ?, ?)");
    for (const r of rows) {
      if (r.seq == null) { drop.run(this.stream, group, r.pseq); continue; } // trimmed away: nothing to deliver
      const event = toEvent(r as EventRow);
      if (r.count >= maxDeliveries) {
        dead.run(this.stream, group, r.count, now, JSON.stringify(event));
        drop.run(this.stream, group, r.pseq);
        out.deadLettered.push(event);
      } else {
        move.run(consumer, now, this.stream, group, r.pseq);
        out.deliveries.push({ event, deliveryCount: r.count + 1 });
      }
    }
    if (rows.length) this.db.query("INSERT OR REPLACE INTO consumers (stream, grp, name, seen_at) VALUES (?, ?, ?, ?)").run(this.stream, group, consumer, now);
    return out;
  });

  async claimIdle(group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): Promise<ClaimResult> {
    return this.claimTx.immediate(group, consumer, minIdleMs, count, maxDeliveries) as ClaimResult;
  }

  async readDeadLetters(limit: number): Promise<DeadLetter[]> {
    return this.db.query<{ grp: string; deliveries: number; at: number; event: string }, [string, number]>(
      "SELECT grp, deliveries, at, event FROM dlq WHERE stream = ? ORDER BY id LIMIT ?").all(this.stream, limit)
      .map((r) => ({ event: JSON.parse(r.event), group: r.grp, deliveries: r.deliveries, deadLetteredAt: r.at }));
  }

  async stats(): Promise<StoreStats> {
    const s = this.stream;
    const length = this.counts.rows;
    const first = this.db.query<{ ms: number; seq: number }, [string]>(`SELECT ms, seq FROM ${SEQ_INDEX} WHERE stream = ? ORDER BY seq LIMIT 1`).get(s);
    const last = this.db.query<{ ms: number; seq: number }, [string]>(`SELECT ms, seq FROM ${SEQ_INDEX} WHERE stream = ? ORDER BY seq DESC LIMIT 1`).get(s);
    const perType: Record<string, number> = {};
    for (const [type, n] of this.counts.perType) if (n > 0) perType[type] = n;
    const groups = this.db.query<{ name: string; last_seq: number; last_id: string; filter: string | null }, [string]>("SELECT name, last_seq, last_id, filter FROM groups WHERE stream = ? ORDER BY name").all(s).map((g) => ({
      name: g.name,
      filter: g.filter,
      lastDeliveredId: g.last_id,
      consumers: this.db.query<{ n: number }, [string, string]>("SELECT count(*) AS n FROM consumers WHERE stream = ? AND grp = ?").get(s, g.name)!.n,
      pending: this.db.query<{ n: number }, [string, string]>("SELECT count(*) AS n FROM pending WHERE stream = ? AND grp = ?").get(s, g.name)!.n,
      lag: this.db.query<{ n: number }, [string, number]>(`SELECT count(*) AS n FROM ${SEQ_INDEX} WHERE stream = ? AND seq > ?`).get(s, g.last_seq)!.n,
    }));
    const deadLetters = this.db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM dlq WHERE stream = ?").get(s)!.n;
    const trimmed = this.db.query<{ trimmed: number }, [string]>("SELECT trimmed FROM meta WHERE stream = ?").get(s)?.trimmed ?? 0;
    return { stream: s, length, firstId: first ? `${first.ms}-${first.seq}` : null, lastId: last ? `${last.ms}-${last.seq}` : null, perType, groups, deadLetters, trimmed };
  }

  /** Bounded steps of trimming (sqlite-trim.ts), then expired dedup records. */
  async trim(): Promise<number> {
    const total = await this.trimmer.trim();
    this.idem.prune(Date.now());
    return total;
  }

  async destroy(): Promise<void> {
    this.db.transaction(() => {
      for (const t of ["events", "groups", "consumers", "pending", "dlq", "idem", "idem_log", "meta"]) this.db.query(`DELETE FROM ${t} WHERE stream = ?`).run(this.stream);
    }).immediate();
    this.idem.clear();
    this.seenWritten.clear();
    this.counts.rows = 0;
    this.counts.perType.clear();
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.onClose();
  }
}

export interface EmbeddedOptions {
  file: string;
  sync: SyncMode;
  trim: TrimPolicy;
}

/** One database file, one store object per stream name (cached). */
export function createEmbeddedFactory(opts: EmbeddedOptions): StoreFactory {
  const db = openDatabase(opts.file, opts.sync);
  let checkpointer: Worker | undefined;
  if (opts.file !== ":memory:") {
    db.exec("PRAGMA wal_autocheckpoint = 0");
    checkpointer = new Worker(new URL("./checkpointer.ts", import.meta.url).href);
    checkpointer.postMessage({ file: opts.file, intervalMs: 250 });
  }
  const stores = new Map<string, SqliteEventStore>();
  // Per stream for the factory's life, not per store object: a store closed and reopened (a reload) keeps one coherent index.
  const idems = new Map<string, IdemIndex>();
  let closed = false;
  return {
    kind: "embedded",
    open(stream) {
      let s = stores.get(stream);
      let idem = idems.get(stream);
      if (!idem) idems.set(stream, (idem = new IdemIndex(db, stream)));
      if (!s) stores.set(stream, (s = new SqliteEventStore(db, stream, opts.trim, idem, () => stores.delete(stream))));
      return s;
    },
    async ping() { return !closed; },
    async close() {
      if (closed) return;
      closed = true;
      stores.clear();
      idems.clear();
      checkpointer?.terminate();
      try { db.exec("PRAGMA wal_checkpoint(TRUNCATE)"); } catch { /* best effort: the WAL is replayed on open anyway */ }
      db.close();
    },
  };
}
