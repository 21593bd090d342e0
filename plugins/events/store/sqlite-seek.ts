/**
 * Time and id bounds of one stream of the embedded store as seq bounds, by binary search over the
 * stream's rowids (its table, sqlite-schema.ts): reads with from/to bounds, a group created at an id, and age trimming use it.
 */
import type { Database } from "bun:sqlite";
import { MAX_SEQ } from "./sqlite-schema";

export class SeqSeeker {
  /** `t`: the stream's table. */
  constructor(private readonly db: Database, private readonly t: string) {}

  /**
   * First seq of this stream whose ms is >= m (> m when strict), MAX_SEQ when none. ms never decreases
   * along seq within a stream (nowMs()), so "the first row at or after seq x is late enough" is monotone in
   * x: a binary search over the rowids, ~log2(seq range) probes. A (stream, ms,
   * seq) index answered this in one probe but cost every append another b-tree insert (~1.2 µs/event,
   * measured); these lookups run only for time and from_id/to_id bounds and age trimming.
   */
  firstSeqAtMs(m: number, strict: boolean): number {
    const late = (r: { ms: number } | null | undefined): boolean => r != null && (strict ? r.ms > m : r.ms >= m);
    const at = this.seqProbe;
    const first = at.get(0);
    if (first == null) return MAX_SEQ;
    if (late(first)) return first.seq;
    const last = this.last()!;
    if (!late(last)) return MAX_SEQ;
    // Invariant: the row at or after lo is early, the row at or after hi is late.
    let lo = first.seq;
    let hi = last.seq;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (late(at.get(mid))) hi = mid;
      else lo = mid;
    }
    return at.get(hi)!.seq;
  }

  /** The first row of this stream at or after a seq (firstSeqAtMs's probe). */
  private get seqProbe() {
    return this.db.query<{ seq: number; ms: number }, [number]>(`SELECT seq, ms FROM ${this.t} WHERE seq >= ? ORDER BY seq LIMIT 1`);
  }

  /** The stream's first row (seq, ms), null when empty. */
  first(): { seq: number; ms: number } | null {
    return this.db.query<{ seq: number; ms: number }, []>(`SELECT seq, ms FROM ${this.t} ORDER BY seq LIMIT 1`).get();
  }

  /** The stream's last row (seq, ms), null when empty. */
  last(): { seq: number; ms: number } | null {
    return this.db.query<{ seq: number; ms: number }, []>(`SELECT seq, ms FROM ${this.t} ORDER BY seq DESC LIMIT 1`).get();
  }

  /** Smallest seq bound such that seq >= bound ⇔ (ms, seq) >= (m, n) (ms never decreases along seq). */
  lowerSeq(m: number, n: number): number {
    const a = this.firstSeqAtMs(m, false);
    const b = this.firstSeqAtMs(m, true);
    return n <= a ? a : n < b ? n : b;
  }

  /** Largest seq bound such that seq <= bound ⇔ (ms, seq) <= (m, n). */
  upperSeq(m: number, n: number): number {
    const a = this.firstSeqAtMs(m, false);
    if (a === MAX_SEQ) return MAX_SEQ;
    const b = this.firstSeqAtMs(m, true);
    return n >= b - 1 ? b - 1 : n >= a ? n : a - 1;
  }
}
