/**
 * Consumer groups of one stream of the embedded store: group creation and filters, group reads (each a
 * write transaction: the pending entries and the group's position move together), pending re-reads,
 * acks, and idle reclaim with delivery counts and dead letters after N deliveries. Blocked reads wait
 * in sqlite-blocked.ts; the append's transaction serves them with readInTx (sqlite-append.ts).
 */
import type { Database } from "bun:sqlite";
import { MAX_SEQ, seqOf, toEvent, type EventRow } from "./sqlite-schema";
import type { BlockedReads } from "./sqlite-blocked";
import type { FreshRows } from "./sqlite-fresh";
import type { SeqSeeker } from "./sqlite-seek";
import { splitId, type ClaimResult, type Delivery } from "./types";

/** A consumer's seen_at (consumers table) is refreshed at most this often: a write per read cost a WAL frame each. */
const SEEN_EVERY_MS = 1000;

export class SqliteGroups {
  private readonly readGroupTx;
  private readonly ownPendingTx;
  private readonly ackTx;
  private readonly claimTx;
  /** When each consumer's row was last written (group → consumer → ms): seen_at is refreshed at most every SEEN_EVERY_MS. */
  private readonly seenWritten = new Map<string, Map<string, number>>();
  private newProbe?: ReturnType<Database["prepare"]>;

  /** readInTx's statements (one group read per delivery). */
  private readonly position;
  private readonly seen;
  private readonly rowsAfter;
  private readonly addPending;
  private readonly move;

  /** `t`: the stream's table (sqlite-schema.ts streamTable); `fresh`: the rows of the open append transaction (sqlite-append.ts fills it). */
  constructor(private readonly db: Database, private readonly stream: string, private readonly t: string, private readonly seek: SeqSeeker, private readonly blocked: BlockedReads, private readonly fresh: FreshRows) {
    this.position = db.prepare<{ last_seq: number }, [string, string]>("SELECT last_seq FROM groups WHERE stream = ? AND name = ?");
    this.seen = db.prepare<unknown, [string, string, string, number]>("INSERT OR REPLACE INTO consumers (stream, grp, name, seen_at) VALUES (?, ?, ?, ?)");
    this.rowsAfter = db.prepare<EventRow, [number, number]>(`SELECT * FROM ${t} WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.addPending = db.prepare<unknown, [string, string, number, string, number]>("INSERT OR REPLACE INTO pending (stream, grp, seq, consumer, delivered_at, count) VALUES (?, ?, ?, ?, ?, 1)");
    this.move = db.prepare<unknown, [number, string, string, string]>("UPDATE groups SET last_seq = ?, last_id = ? WHERE stream = ? AND name = ?");
    this.readGroupTx = db.transaction((g: string, c: string, n: number) => this.readInTx(g, c, n));
    this.ownPendingTx = db.transaction((g: string, c: string, n: number, after: number) => this.ownPendingTxFn(g, c, n, after));
    this.ackTx = db.transaction((g: string, ids: string[]) => this.ackTxFn(g, ids));
    this.claimTx = db.transaction((g: string, c: string, idle: number, n: number, max: number) => this.claimTxFn(g, c, idle, n, max));
  }

  ensureGroup(group: string, start: string): void {
    let lastSeq = 0;
    let lastId = "0-0";
    if (start === "$") {
      const r = this.seek.last();
      if (r) { lastSeq = r.seq; lastId = `${r.ms}-${r.seq}`; }
    } else if (start !== "0" && start !== "0-0") {
      const [m, n] = splitId(start);
      const bound = this.seek.upperSeq(m, start.includes("-") ? n : MAX_SEQ);
      const r = this.db.query<{ seq: number; ms: number }, [number]>(`SELECT seq, ms FROM ${this.t} WHERE seq <= ? ORDER BY seq DESC LIMIT 1`).get(bound);
      if (r) { lastSeq = r.seq; lastId = `${r.ms}-${r.seq}`; }
    }
    this.db.query("INSERT OR IGNORE INTO groups (stream, name, last_seq, last_id) VALUES (?, ?, ?, ?)").run(this.stream, group, lastSeq, lastId);
  }

  bindGroupFilter(group: string, filter: string): string {
    // One statement: the first binding wins, a concurrent second one reads it back.
    this.db.query("UPDATE groups SET filter = ? WHERE stream = ? AND name = ? AND filter IS NULL").run(filter, this.stream, group);
    const r = this.db.query<{ filter: string | null }, [string, string]>("SELECT filter FROM groups WHERE stream = ? AND name = ?").get(this.stream, group);
    if (!r) throw new Error(`NOGROUP no such group ${group}`);
    return r.filter ?? filter;
  }

  /**
   * A group read inside a write transaction already open (its own, or the append's: sqlite-blocked.ts).
   * A group caught up with the rows before the append's transaction is served from the rows it inserted
   * (sqlite-fresh.ts), else it reads them back; either way its pending entries and position move here, in
   * this transaction. Prepared statements: a db.query() lookup hashes its SQL text on every call.
   */
  readInTx = (group: string, consumer: string, count: number): Delivery[] => {
    const g = this.position.get(this.stream, group);
    if (!g) throw new Error(`NOGROUP no such group ${group}`);
    const now = Date.now();
    if (now - this.seenAt(group, consumer) >= SEEN_EVERY_MS) {
      this.seen.run(this.stream, group, consumer, now);
      let m = this.seenWritten.get(group);
      if (m === undefined) this.seenWritten.set(group, (m = new Map()));
      m.set(consumer, now);
    }
    const fresh = this.fresh;
    const from = fresh.firstAfter(g.last_seq);
    if (from >= 0) {
      const end = Math.min(fresh.length, from + count);
      if (end === from) return [];
      const out: Delivery[] = new Array(end - from);
      for (let i = from; i < end; i++) {
        this.addPending.run(this.stream, group, fresh.seq(i), consumer, now);
        out[i - from] = fresh.delivery(i);
      }
      this.move.run(fresh.seq(end - 1), fresh.streamId(end - 1), this.stream, group);
      return out;
    }
    const rows = this.rowsAfter.all(g.last_seq, count);
    if (rows.length === 0) return [];
    for (const r of rows) this.addPending.run(this.stream, group, r.seq, consumer, now);
    const out: Delivery[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = { event: toEvent(rows[i]), deliveryCount: 1 };
    this.move.run(rows[rows.length - 1].seq, out[out.length - 1].event.streamId, this.stream, group);
    return out;
  };

  /** When the consumer's row was last written by this object (-Infinity: never). */
  private seenAt(group: string, consumer: string): number {
    return this.seenWritten.get(group)?.get(consumer) ?? -Infinity;
  }

  /** Whether the group has an entry past its last delivered one (read-only: no transaction, no write). */
  private hasNew(group: string): boolean {
    this.newProbe ??= this.db.prepare(`SELECT 1 AS x FROM ${this.t} WHERE seq > (SELECT last_seq FROM groups WHERE stream = ?1 AND name = ?2) LIMIT 1`);
    return this.newProbe.get(this.stream, group) != null;
  }

  /**
   * Not async, and no closure: one promise per read (a delivery at 1,000/s), the wait's. A read that throws
   * (the group gone, the database failing) rejects, as an async function's would.
   */
  readGroup(group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    if (signal?.aborted) return Promise.resolve([]);
    try {
      // A consumer seen within the second whose group has nothing new waits first: a read-only probe instead
      // of a write transaction that finds nothing (one per delivery, and ~28 % of the server at 1,000/s).
      // The wait returns what the append's own transaction read for this reader (sqlite-blocked.ts), else
      // the read it makes for itself then.
      if (blockMs > 0 && Date.now() - this.seenAt(group, consumer) < SEEN_EVERY_MS && !this.hasNew(group)) {
        return this.blocked.wait(group, consumer, count, blockMs, signal, this.readNow) as Promise<Delivery[]>;
      }
      const first = this.readNow(group, consumer, count);
      if (first.length > 0 || blockMs <= 0) return Promise.resolve(first);
      return this.blocked.wait(group, consumer, count, blockMs, signal, this.readNow) as Promise<Delivery[]>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A group read in a write transaction of its own. */
  private readonly readNow = (group: string, consumer: string, count: number): Delivery[] => this.readGroupTx.immediate(group, consumer, count) as Delivery[];

  private ownPendingTxFn = ((group: string, consumer: string, count: number, afterSeq: number): Delivery[] => {
    const rows = this.db.query<EventRow & { count: number }, [string, string, string, number, number]>(
      `SELECT e.*, p.count AS count FROM pending p JOIN ${this.t} e ON e.seq = p.seq WHERE p.stream = ? AND p.grp = ? AND p.consumer = ? AND p.seq > ? ORDER BY p.seq LIMIT ?`).all(this.stream, group, consumer, afterSeq, count);
    const now = Date.now();
    const bump = this.db.query("UPDATE pending SET delivered_at = ?, count = count + 1 WHERE stream = ? AND grp = ? AND seq = ?");
    for (const r of rows) bump.run(now, this.stream, group, r.seq);
    return rows.map((r) => ({ event: toEvent(r), deliveryCount: r.count + 1 }));
  });

  readOwnPending(group: string, consumer: string, count: number, afterId?: string): Delivery[] {
    return this.ownPendingTx.immediate(group, consumer, count, afterId ? seqOf(afterId) : 0) as Delivery[];
  }

  private ackTxFn = ((group: string, ids: string[]): number => {
    const del = this.db.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND seq = ?");
    let n = 0;
    for (const id of ids) n += del.run(this.stream, group, seqOf(id)).changes;
    return n;
  });

  ack(group: string, streamIds: string[]): number {
    return streamIds.length === 0 ? 0 : (this.ackTx.immediate(group, streamIds) as number);
  }

  private claimTxFn = ((group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): ClaimResult => {
    const now = Date.now();
    const rows = this.db.query<Partial<EventRow> & { pseq: number; count: number }, [string, string, number, number]>(
      `SELECT p.seq AS pseq, p.count AS count, e.* FROM pending p LEFT JOIN ${this.t} e ON e.seq = p.seq WHERE p.stream = ? AND p.grp = ? AND p.delivered_at <= ? ORDER BY p.seq LIMIT ?`,
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

  claimIdle(group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): ClaimResult {
    return this.claimTx.immediate(group, consumer, minIdleMs, count, maxDeliveries) as ClaimResult;
  }

  /** The stream was destroyed (its rows are deleted by the caller). */
  clear(): void {
    this.seenWritten.clear();
  }
}
