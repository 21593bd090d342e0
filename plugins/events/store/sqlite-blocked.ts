/**
 * Blocked group reads of the embedded store, served inside the append transaction that made them ready:
 * one transaction (one WAL commit) per group commit covers its appends and every blocked reader's group
 * read, where each delivery took a write transaction of its own (with the append's, ~30 % of the server
 * at 1,000 deliveries/s, profiled). A reader the append did not serve (its read found nothing, failed, or
 * another store object appended) wakes on notifyAppend and reads for itself, as before.
 * A wait (one per delivered event at 1,000/s) allocates its promise only: a subscription's reader object,
 * its abort listener and its promise executor are made once per subscription (its signal), the stream's
 * wake-up listener once per BlockedReads, and waits past their time are found by one sweep timer.
 */
import type { Delivery } from "./types";
import { offAppend, onAppend } from "./wakeup";

export type GroupRead = (group: string, consumer: string, count: number) => Delivery[];

/** How often waits past their time are looked for (a wait ends between its time and this much after). */
const SWEEP_MS = 100;
const noop = () => {};
const handOver = (d: Delivery[], r: BlockedRead): void => { r.got = d; };

/** One waiting reader; a subscription's is reused for each of its waits. */
class BlockedRead {
  group = "";
  consumer = "";
  count = 0;
  /** What the append's transaction read for it (null: read yourself). */
  got: Delivery[] | null = null;
  due = 0;
  /** In the readers' list now. */
  waiting = false;
  orRead: GroupRead | undefined = undefined;
  resolve: (d: Delivery[] | null) => void = noop;
  reject: (err: unknown) => void = noop;
  readonly capture = (resolve: (d: Delivery[] | null) => void, reject: (err: unknown) => void) => { this.resolve = resolve; this.reject = reject; };
  constructor(readonly signal: AbortSignal | undefined) {}
}

export class BlockedReads {
  /** Waiting now (a list: walked per append without an iterator object). */
  private readers: BlockedRead[] = [];
  /** Reads made in the open append transaction, handed over only once it commits. */
  private readonly inTx = new Map<BlockedRead, Delivery[]>();
  private readonly bySignal = new WeakMap<AbortSignal, BlockedRead>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private listening = false;

  constructor(private readonly stream: string) {}

  /**
   * Waits up to blockMs for an append: the deliveries its transaction read for this reader, or, when it
   * read none, null (read yourself), or with `orRead` given, that read's result (made here, so the caller
   * needs no continuation of its own). A reader whose `signal` aborts (its client left) is taken off at
   * once, so no later append's transaction reads entries for it that would sit pending until the
   * visibility timeout; it gets what was already read for it, else null ([] with `orRead`).
   */
  wait(group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal, orRead?: GroupRead): Promise<Delivery[] | null> {
    if (signal?.aborted) return Promise.resolve(orRead === undefined ? null : []);
    let r = signal === undefined ? undefined : this.bySignal.get(signal);
    if (r === undefined || r.waiting) r = this.newReader(signal);
    r.group = group;
    r.consumer = consumer;
    r.count = count;
    r.got = null;
    r.due = Date.now() + blockMs;
    r.orRead = orRead;
    r.waiting = true;
    this.readers.push(r);
    if (!this.listening) { this.listening = true; onAppend(this.stream, this.woken); }
    this.sweeper ??= setInterval(this.sweep, SWEEP_MS).unref();
    return new Promise(r.capture);
  }

  /** A subscription's reader (kept for its next waits) with its abort listener; apart from wait(): it makes a closure. */
  private newReader(signal: AbortSignal | undefined): BlockedRead {
    const r = new BlockedRead(signal);
    if (signal === undefined) return r;
    if (!this.bySignal.has(signal)) this.bySignal.set(signal, r);
    signal.addEventListener("abort", () => { if (this.take(r)) this.settle(r); }, { once: true });
    return r;
  }

  /**
   * Inside the append transaction, after its inserts: each blocked reader's group read (no savepoint: its
   * statement journal cost more writes than the separate transaction saved). A group gone (NOGROUP, thrown
   * before the read writes anything) is left to the reader's own read; any other failure is the database's
   * and fails the append's transaction with it (nothing acknowledged, as for any failed commit).
   */
  readInTx(read: GroupRead): void {
    const readers = this.readers;
    for (let i = 0; i < readers.length; i++) {
      const r = readers[i];
      try {
        const d = read(r.group, r.consumer, r.count);
        if (d.length > 0) this.inTx.set(r, d);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith("NOGROUP")) throw err;
      }
    }
  }

  /** The transaction committed: the readers get their deliveries (before notifyAppend wakes them). Whether any got some. */
  committed(): boolean {
    if (this.inTx.size === 0) return false;
    this.inTx.forEach(handOver); // no iterator and entry arrays per commit
    this.inTx.clear();
    return true;
  }

  /** The transaction rolled back: its reads never happened. */
  rolledBack(): void {
    this.inTx.clear();
  }

  /** An append of the stream: every waiting reader is woken (made once: the wake-up listener). */
  private readonly woken = (): void => {
    this.listening = false;
    offAppend(this.stream, this.woken);
    const all = this.readers;
    if (all.length === 0) return;
    this.readers = all.length === 1 ? all : [];
    if (all.length === 1) { const r = all.pop()!; r.waiting = false; this.settle(r); return; } // the list is reused
    for (const r of all) { r.waiting = false; this.settle(r); }
  };

  /** Takes `r` off the waiting list; false when it was not waiting. */
  private take(r: BlockedRead): boolean {
    if (!r.waiting) return false;
    r.waiting = false;
    const at = this.readers.indexOf(r);
    if (at !== -1) this.readers.splice(at, 1);
    return true;
  }

  /** Waits past their time end (the timer stops once nobody waits). */
  private readonly sweep = (): void => {
    if (this.readers.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      return;
    }
    const now = Date.now();
    for (const r of this.readers.slice()) if (now >= r.due && this.take(r)) this.settle(r);
    if (this.readers.length === 0 && this.listening) { this.listening = false; offAppend(this.stream, this.woken); }
  };

  /** Hands `r` what it got, else its own read (`orRead`), unless its reader is gone. Never throws. */
  private settle(r: BlockedRead): void {
    const { got, orRead, resolve, reject } = r;
    r.got = null;
    r.orRead = undefined;
    r.resolve = noop;
    r.reject = noop;
    if (got !== null || orRead === undefined) { resolve(got); return; }
    if (r.signal?.aborted) { resolve([]); return; }
    try { resolve(orRead(r.group, r.consumer, r.count)); } catch (err) { reject(err); }
  }
}
