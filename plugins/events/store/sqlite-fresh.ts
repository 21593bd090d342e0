/**
 * The rows the open append transaction of one stream of the embedded store inserted, kept in memory until
 * it ends. A blocked group reader the transaction serves (sqlite-blocked.ts) is usually caught up: every
 * row past its group's position is one of these, so its group read (sqlite-groups.ts readInTx) builds the
 * deliveries from them instead of a SELECT of the rows it has just written. Its pending entries and the
 * group's position are still written in the same transaction, exactly as by the SQL read. A group behind
 * the rows before this transaction reads with SQL, as before.
 */
import { storedEvent } from "./sqlite-schema";
import type { Delivery, NewEvent } from "./types";

export class FreshRows {
  /** The stream's last seq before the transaction inserted anything (-1: no transaction open). */
  private before = -1;
  /** Parallel lists, in insertion order = seq order (seqs come from one increasing counter): no object per row. */
  private readonly seqs: number[] = [];
  private readonly streamIds: string[] = [];
  private readonly events: NewEvent[] = [];
  /** The payload text as stored (JSON.stringify at the INSERT). */
  private readonly payloads: string[] = [];

  /** The transaction began; `lastSeq`: the stream's last row's seq (0: empty), read under its write lock. */
  open(lastSeq: number): void {
    this.before = lastSeq;
    this.seqs.length = 0;
    this.streamIds.length = 0;
    this.events.length = 0;
    this.payloads.length = 0;
  }

  /** A row the transaction inserted (after its INSERT ran). */
  add(seq: number, streamId: string, e: NewEvent, payload: string): void {
    if (this.before < 0) return;
    this.seqs.push(seq);
    this.streamIds.push(streamId);
    this.events.push(e);
    this.payloads.push(payload);
  }

  /** The transaction ended (committed or rolled back): nothing is served from memory outside one. */
  close(): void {
    this.open(0);
    this.before = -1;
  }

  /**
   * The index of the first row past `lastSeq` (a group's position; `length` when none), or -1 when rows
   * older than this transaction's may lie past it (or none is open): that group reads with SQL.
   */
  firstAfter(lastSeq: number): number {
    if (this.before < 0 || lastSeq < this.before) return -1;
    let i = 0;
    while (i < this.seqs.length && this.seqs[i] <= lastSeq) i++;
    return i;
  }

  get length(): number {
    return this.seqs.length;
  }

  seq(i: number): number {
    return this.seqs[i];
  }

  streamId(i: number): string {
    return this.streamIds[i];
  }

  /**
   * Row `i` as the SQL read delivers it (toEvent): the stored fields, the payload parsed from its stored
   * text (a fresh object per delivery, equal to what a read of the row returns, whatever the publisher's
   * object held).
   */
  delivery(i: number): Delivery {
    const e = this.events[i];
    return { event: storedEvent(e.id, this.streamIds[i], e.type, e.source, e.time, e.correlationId, e.schemaVersion, JSON.parse(this.payloads[i]), e.traceparent), deliveryCount: 1 };
  }
}
