/**
 * When a store's coalesced write runs (the SQLite group commit, the Redis script call): in the next
 * event-loop turn, or, while publishes arrive faster than one per turn (the last write carried BUSY_BATCH
 * appends or more), in the turn after, so it also takes that turn's appends. A write's cost is mostly per
 * write (a commit's locks and the WAL frames of page 1 and the B-trees' right edges; a script call's round
 * trip and invocation), so fewer, larger writes cost less per publish. The turn in between is a
 * non-blocking poll, no timer; a trickle of publishes (one per turn) is written in the next turn, as before.
 */
export const BUSY_BATCH = 4;

export class WriteTiming {
  private busy = false;

  constructor(private readonly write: () => void) {}

  private readonly later = () => { setImmediate(this.write); };

  /** The first append of a batch arrived: schedule its write. */
  schedule(): void {
    setImmediate(this.busy ? this.later : this.write);
  }

  /** A write took `appends` appends (called when it starts). */
  took(appends: number): void {
    this.busy = appends >= BUSY_BATCH;
  }
}
