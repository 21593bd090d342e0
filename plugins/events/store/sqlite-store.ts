/**
 * Embedded EventStore on bun:sqlite (the default: nothing to install). Same semantics as the Redis
 * store: "<ms>-<n>" ids, consumer groups with pending entries, idle reclaim with delivery counts,
 * dead letters after N deliveries, dedup window, trimming. Every append is one transaction, committed
 * before the promise resolves, so a 201 survives a crash of the process (see sqlite-schema.ts).
 * This file composes the parts: appends (sqlite-append.ts), consumer groups (sqlite-groups.ts), id and
 * time bounds (sqlite-seek.ts), trimming (sqlite-trim.ts); reads, stats and the factory are here.
 */
import { MAX_SEQ, SeqCounter, openDatabase, seqOf, streamTable, toEvent, type EventRow, type SyncMode } from "./sqlite-schema";
import { migratePendingWithoutRowid, migrateSharedEvents } from "./sqlite-migrate";
import { IdemIndex } from "./sqlite-idem";
import { SqliteAppender, type StreamCounts } from "./sqlite-append";
import { SqliteTrimmer } from "./sqlite-trim";
import { BlockedReads } from "./sqlite-blocked";
import { SqliteGroups } from "./sqlite-groups";
import { FreshRows } from "./sqlite-fresh";
import { SeqSeeker } from "./sqlite-seek";
import type { Database } from "bun:sqlite";
import {
  splitId, type AppendDone, type AppendOptions, type AppendResult, type ClaimResult, type DeadLetter, type Delivery, type EventStore,
  type NewEvent, type ReadPage, type ReadQuery, type StoreFactory, type StoreStats, type TrimPolicy,
} from "./types";

class SqliteEventStore implements EventStore {
  readonly kind = "embedded" as const;
  private readonly appender: SqliteAppender;
  private readonly counts: StreamCounts = { rows: 0, perType: new Map() };
  private readonly groups: SqliteGroups;
  private readonly seek: SeqSeeker;
  private readonly trimmer: SqliteTrimmer;

  /** The stream's events table (sqlite-schema.ts streamTable). */
  private readonly t: string;

  constructor(private readonly db: Database, readonly stream: string, policy: TrimPolicy, private readonly seqs: SeqCounter, private readonly idem: IdemIndex, private readonly onClose: () => void) {
    const blocked = new BlockedReads(stream);
    const t = (this.t = streamTable(db, stream));
    this.counts.rows = db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${t}`).get()!.n;
    for (const r of db.query<{ type: string; n: number }, []>(`SELECT type, count(*) AS n FROM ${t} GROUP BY type`).all()) this.counts.perType.set(r.type, r.n);
    this.seek = new SeqSeeker(db, t);
    const fresh = new FreshRows();
    this.groups = new SqliteGroups(db, stream, t, this.seek, blocked, fresh);
    this.appender = new SqliteAppender(db, stream, t, seqs, idem, this.counts, blocked, this.groups.readInTx, fresh);
    this.trimmer = new SqliteTrimmer(db, stream, t, seqs, policy, this.counts, (m) => this.seek.firstSeqAtMs(m, false));
  }

  /** Group commit: see sqlite-append.ts. */
  append(events: NewEvent[], opts: AppendOptions): Promise<AppendResult> {
    return this.appender.append(events, opts);
  }

  appendTo(events: NewEvent[], opts: AppendOptions, done: AppendDone): void {
    this.appender.appendTo(events, opts, done);
  }

  async read(q: ReadQuery): Promise<ReadPage> {
    let lo = 0;
    let hi = MAX_SEQ;
    const seek = this.seek;
    if (q.afterId) lo = Math.max(lo, seqOf(q.afterId) + 1);
    if (q.fromId) { const [m, n] = splitId(q.fromId); lo = Math.max(lo, seek.lowerSeq(m, q.fromId.includes("-") ? n : 0)); }
    if (q.fromMs !== undefined) lo = Math.max(lo, seek.lowerSeq(q.fromMs, 0));
    if (q.toId) { const [m, n] = splitId(q.toId); hi = Math.min(hi, seek.upperSeq(m, q.toId.includes("-") ? n : MAX_SEQ)); }
    if (q.toMs !== undefined) hi = Math.min(hi, seek.upperSeq(q.toMs, MAX_SEQ));
    if (lo > hi) return { events: [] };
    const src = q.source ? " AND source = ?" : "";
    const tail = q.source ? [q.source, q.limit + 1] : [q.limit + 1];
    const t = this.t;
    let rows: EventRow[];
    if (!q.types || q.types.length === 0) {
      rows = this.db.query<EventRow, (string | number)[]>(`SELECT * FROM ${t} WHERE seq >= ? AND seq <= ?${src} ORDER BY seq LIMIT ?`).all(lo, hi, ...tail);
    } else {
      // One ordered index range per type, merged (an IN list would make SQLite sort every match).
      const byType = this.db.query<EventRow, (string | number)[]>(`SELECT * FROM ${t} INDEXED BY ${t}_type WHERE type = ? AND seq >= ? AND seq <= ?${src} ORDER BY seq LIMIT ?`);
      rows = [...new Set(q.types)].flatMap((type) => byType.all(type, lo, hi, ...tail)).sort((x, y) => x.seq - y.seq).slice(0, q.limit + 1);
    }
    const more = rows.length > q.limit;
    const events = (more ? rows.slice(0, q.limit) : rows).map(toEvent);
    return { events, next: more ? events[events.length - 1].streamId : undefined };
  }

  async ensureGroup(group: string, start: string): Promise<void> {
    this.groups.ensureGroup(group, start);
  }

  async bindGroupFilter(group: string, filter: string): Promise<string> {
    return this.groups.bindGroupFilter(group, filter);
  }

  readGroup(group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    return this.groups.readGroup(group, consumer, count, blockMs, signal);
  }

  async readOwnPending(group: string, consumer: string, count: number, afterId?: string): Promise<Delivery[]> {
    return this.groups.readOwnPending(group, consumer, count, afterId);
  }

  async ack(group: string, streamIds: string[]): Promise<number> {
    return this.groups.ack(group, streamIds);
  }

  async claimIdle(group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): Promise<ClaimResult> {
    return this.groups.claimIdle(group, consumer, minIdleMs, count, maxDeliveries);
  }

  async readDeadLetters(limit: number): Promise<DeadLetter[]> {
    return this.db.query<{ grp: string; deliveries: number; at: number; event: string }, [string, number]>(
      "SELECT grp, deliveries, at, event FROM dlq WHERE stream = ? ORDER BY id LIMIT ?").all(this.stream, limit)
      .map((r) => ({ event: JSON.parse(r.event), group: r.grp, deliveries: r.deliveries, deadLetteredAt: r.at }));
  }

  async stats(): Promise<StoreStats> {
    const s = this.stream;
    const length = this.counts.rows;
    const first = this.seek.first();
    const last = this.seek.last();
    const perType: Record<string, number> = {};
    for (const [type, n] of this.counts.perType) if (n > 0) perType[type] = n;
    const groups = this.db.query<{ name: string; last_seq: number; last_id: string; filter: string | null }, [string]>("SELECT name, last_seq, last_id, filter FROM groups WHERE stream = ? ORDER BY name").all(s).map((g) => ({
      name: g.name,
      filter: g.filter,
      lastDeliveredId: g.last_id,
      consumers: this.db.query<{ n: number }, [string, string]>("SELECT count(*) AS n FROM consumers WHERE stream = ? AND grp = ?").get(s, g.name)!.n,
      pending: this.db.query<{ n: number }, [string, string]>("SELECT count(*) AS n FROM pending WHERE stream = ? AND grp = ?").get(s, g.name)!.n,
      lag: this.db.query<{ n: number }, [number]>(`SELECT count(*) AS n FROM ${this.t} WHERE seq > ?`).get(g.last_seq)!.n,
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
      this.db.exec(`DELETE FROM ${this.t}`);
      this.seqs.keep();
      for (const t of ["groups", "consumers", "pending", "dlq", "idem", "idem_log", "meta"]) this.db.query(`DELETE FROM ${t} WHERE stream = ?`).run(this.stream);
    }).immediate();
    this.idem.clear();
    this.groups.clear();
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
  migrateSharedEvents(db);
  migratePendingWithoutRowid(db);
  const seqs = new SeqCounter(db);
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
      if (!s) stores.set(stream, (s = new SqliteEventStore(db, stream, opts.trim, seqs, idem, () => stores.delete(stream))));
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
