/**
 * Trimming of one stream of the embedded store (stream.max_len, stream.max_age): bounded steps of at most
 * TRIM_STEP rows, each its own transaction, so a big backlog never stalls the event loop long; the
 * stream's row counts (sqlite-append.ts StreamCounts) are kept in step.
 */
import type { Database } from "bun:sqlite";
import type { StreamCounts } from "./sqlite-append";
import type { TrimPolicy } from "./types";
import { MAX_SEQ, type SeqCounter } from "./sqlite-schema";

/** Rows deleted per trimming transaction (a few ms of work). */
const TRIM_STEP = 2000;

export class SqliteTrimmer {
  private readonly trimTx;

  /** `firstSeqAtMs(m)`: the first seq of the stream with ms >= m, MAX_SEQ when none (the store's binary search). */
  constructor(private readonly db: Database, private readonly stream: string, private readonly t: string, private readonly seqs: SeqCounter, private readonly policy: TrimPolicy, private readonly counts: StreamCounts, private readonly firstSeqAtMs: (m: number) => number) {
    this.trimTx = db.transaction((limit: number) => this.trimTxFn(limit));
  }

  /** One bounded step of trimming (at most `limit` rows), so a big backlog never stalls the event loop long. */
  private trimTxFn = ((limit: number): number => {
    const s = this.stream;
    let removed = 0;
    // NOT INDEXED: the rowid range to be deleted; the planner prefers the (type, seq) index for GROUP BY, a scan of the whole stream.
    const forget = (where: string, arg: number) => {
      for (const r of this.db.query<{ type: string; n: number }, [number]>(`SELECT type, count(*) AS n FROM ${this.t} NOT INDEXED WHERE ${where} GROUP BY type`).all(arg)) {
        this.counts.perType.set(r.type, (this.counts.perType.get(r.type) ?? 0) - r.n);
      }
      return this.db.query(`DELETE FROM ${this.t} WHERE ${where}`).run(arg).changes;
    };
    const nth = (k: number) => this.db.query<{ seq: number }, [number]>(`SELECT seq FROM ${this.t} ORDER BY seq LIMIT 1 OFFSET ?`).get(k)?.seq;
    const excess = this.policy.maxLen > 0 ? Math.min(limit, this.counts.rows - this.policy.maxLen) : 0;
    if (excess > 0) {
      const cut = nth(excess - 1);
      if (cut !== undefined) removed += forget("seq <= ?", cut);
    }
    if (this.policy.maxAgeMs > 0 && removed < limit) {
      // Everything before the first entry young enough, at most one step of it.
      const firstKept = this.firstSeqAtMs(Date.now() - this.policy.maxAgeMs);
      const stepEnd = nth(limit - removed - 1) ?? MAX_SEQ;
      const cut = Math.min(firstKept === MAX_SEQ ? MAX_SEQ : firstKept - 1, stepEnd);
      if (cut > 0) removed += forget("seq <= ?", cut);
    }
    this.counts.rows -= removed;
    if (removed > 0) this.seqs.keep();
    if (removed > 0) this.db.query("INSERT INTO meta (stream, trimmed) VALUES (?, ?) ON CONFLICT(stream) DO UPDATE SET trimmed = trimmed + excluded.trimmed").run(s, removed);
    return removed;
  });

  async trim(): Promise<number> {
    let total = 0;
    for (let step = 0; step < 10_000; step++) {
      const n = this.trimTx.immediate(TRIM_STEP) as number;
      total += n;
      if (n < TRIM_STEP) break;
      await new Promise((r) => setImmediate(r)); // let publishes and deliveries run between steps
    }
    return total;
  }
}
