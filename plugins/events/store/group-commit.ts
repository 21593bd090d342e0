/**
 * When the embedded store's group commit runs: in the next event-loop turn, or, while publishes arrive
 * faster than one per turn (the last commit carried BUSY_BATCH appends or more), in the turn after, so it
 * also takes that turn's appends. A commit's cost is mostly per commit (its locks and the WAL frames of
 * page 1 and the B-trees' right edges), so fewer, larger commits cost less per publish. The turn in between
 * is a non-blocking poll, no timer; a trickle of publishes (one per turn) commits in the next turn, as
 * before. Not used for the Redis store's coalesced script calls: there the wait only delayed the round trip
 * (bench events, BENCH_ONLY=single, 7 rounds at load 2.4–3.4: rps 0.56× the peer vs 0.58× before, CPU alike).
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
