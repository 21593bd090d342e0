/**
 * Allocation-free sliding windows for the breaker: a count-based ring of the last N outcomes and a
 * time-based ring of one-second buckets. Both keep running totals so reading a rate is O(1).
 * No I/O and no clock of their own: the caller passes `nowMs`.
 */

/** Outcome flags stored per call: bit 0 = failure, bit 1 = slow. */
export const FLAG_FAILURE = 1;
export const FLAG_SLOW = 2;

export interface SlidingWindow {
  readonly kind: "count" | "time";
  /** Window size: calls (count) or seconds (time). */
  readonly size: number;
  record(flags: number, nowMs: number): void;
  calls(nowMs: number): number;
  failures(nowMs: number): number;
  slow(nowMs: number): number;
  clear(): void;
}

/** The last `size` calls, whatever their age. */
export class CountWindow implements SlidingWindow {
  readonly kind = "count" as const;
  private readonly ring: Uint8Array;
  private head = 0;
  private filled = 0;
  private failed = 0;
  private slowed = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`count window size must be a positive integer, got ${size}`);
    this.ring = new Uint8Array(size);
  }

  record(flags: number): void {
    const ring = this.ring;
    if (this.filled === this.size) {
      const evicted = ring[this.head];
      this.failed -= evicted & FLAG_FAILURE;
      this.slowed -= (evicted & FLAG_SLOW) >> 1;
    } else {
      this.filled++;
    }
    ring[this.head] = flags;
    this.failed += flags & FLAG_FAILURE;
    this.slowed += (flags & FLAG_SLOW) >> 1;
    this.head = this.head + 1 === this.size ? 0 : this.head + 1;
  }

  calls(): number { return this.filled; }
  failures(): number { return this.failed; }
  slow(): number { return this.slowed; }

  clear(): void {
    this.ring.fill(0);
    this.head = 0;
    this.filled = 0;
    this.failed = 0;
    this.slowed = 0;
  }
}

/**
 * Calls of the last `size` seconds in one-second buckets (the current second included).
 * Buckets that fall out of the window are subtracted lazily as time advances, at most `size` per step.
 */
export class TimeWindow implements SlidingWindow {
  readonly kind = "time" as const;
  private readonly bucketCalls: Int32Array;
  private readonly bucketFailures: Int32Array;
  private readonly bucketSlow: Int32Array;
  /** The epoch second the newest bucket belongs to; -1 before the first call. */
  private headSecond = -1;
  private totalCalls = 0;
  private totalFailures = 0;
  private totalSlow = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`time window size must be a positive integer of seconds, got ${size}`);
    this.bucketCalls = new Int32Array(size);
    this.bucketFailures = new Int32Array(size);
    this.bucketSlow = new Int32Array(size);
  }

  /** Drop buckets older than the window ending at `nowMs`. */
  private advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const head = this.headSecond;
    if (second <= head) return;
    if (head < 0 || second - head >= this.size) {
      this.clear();
    } else {
      for (let s = head + 1; s <= second; s++) {
        const i = s % this.size;
        this.totalCalls -= this.bucketCalls[i];
        this.totalFailures -= this.bucketFailures[i];
        this.totalSlow -= this.bucketSlow[i];
        this.bucketCalls[i] = 0;
        this.bucketFailures[i] = 0;
        this.bucketSlow[i] = 0;
      }
    }
    this.headSecond = second;
  }

  record(flags: number, nowMs: number): void {
    this.advance(nowMs);
    // A clock that stepped backwards lands in the head bucket rather than corrupting an old one.
    const i = this.headSecond % this.size;
    const failed = flags & FLAG_FAILURE;
    const slowed = (flags & FLAG_SLOW) >> 1;
    this.bucketCalls[i]++;
    this.bucketFailures[i] += failed;
    this.bucketSlow[i] += slowed;
    this.totalCalls++;
    this.totalFailures += failed;
    this.totalSlow += slowed;
  }

  calls(nowMs: number): number { this.advance(nowMs); return this.totalCalls; }
  failures(nowMs: number): number { this.advance(nowMs); return this.totalFailures; }
  slow(nowMs: number): number { this.advance(nowMs); return this.totalSlow; }

  clear(): void {
    this.bucketCalls.fill(0);
    this.bucketFailures.fill(0);
    this.bucketSlow.fill(0);
    this.totalCalls = 0;
    this.totalFailures = 0;
    this.totalSlow = 0;
    this.headSecond = -1;
  }
}

export function createWindow(kind: "count" | "time", size: number): SlidingWindow {
  return kind === "count" ? new CountWindow(size) : new TimeWindow(size);
}
