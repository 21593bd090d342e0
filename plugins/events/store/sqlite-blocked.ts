/**
 * Blocked group reads of the embedded store, served inside the append transaction that made them ready:
 * one transaction (one WAL commit) per group commit covers its appends and every blocked reader's group
 * read, where each delivery took a write transaction of its own (with the append's, ~30 % of the server
 * at 1,000 deliveries/s, profiled). A reader the append did not serve (its read found nothing, failed, or
 * another store object appended) wakes on notifyAppend and reads for itself, as before.
 */
import type { Delivery } from "./types";
import { waitForAppend } from "./wakeup";

interface BlockedRead { group: string; consumer: string; count: number; got: Delivery[] | null }
type GroupRead = (group: string, consumer: string, count: number) => Delivery[];

export class BlockedReads {
  private readonly readers = new Set<BlockedRead>();
  /** Reads made in the open append transaction, handed over only once it commits. */
  private readonly inTx = new Map<BlockedRead, Delivery[]>();

  constructor(private readonly stream: string) {}

  /**
   * Waits up to blockMs for an append: the deliveries its transaction read for this reader, or null (read
   * yourself). A reader whose `signal` aborts (its client left) is taken off at once, so no later append's
   * transaction reads entries for it that would sit pending until the visibility timeout.
   */
  async wait(group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Delivery[] | null> {
    if (signal?.aborted) return null;
    const r: BlockedRead = { group, consumer, count, got: null };
    this.readers.add(r);
    const drop = () => { this.readers.delete(r); };
    signal?.addEventListener("abort", drop, { once: true });
    try { await waitForAppend(this.stream, blockMs, signal); } finally { drop(); signal?.removeEventListener("abort", drop); }
    return r.got;
  }

  /**
   * Inside the append transaction, after its inserts: each blocked reader's group read (no savepoint: its
   * statement journal cost more writes than the separate transaction saved). A group gone (NOGROUP, thrown
   * before the read writes anything) is left to the reader's own read; any other failure is the database's
   * and fails the append's transaction with it (nothing acknowledged, as for any failed commit).
   */
  readInTx(read: GroupRead): void {
    for (const r of this.readers) {
      try {
        const d = read(r.group, r.consumer, r.count);
        if (d.length > 0) this.inTx.set(r, d);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith("NOGROUP")) throw err;
      }
    }
  }

  /** The transaction committed: the readers get their deliveries (before notifyAppend wakes them). */
  committed(): void {
    for (const [r, d] of this.inTx) r.got = d;
    this.inTx.clear();
  }

  /** The transaction rolled back: its reads never happened. */
  rolledBack(): void {
    this.inTx.clear();
  }
}
