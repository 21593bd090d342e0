/**
 * Retry budget (Envoy, Finagle): retries may add at most `ratio` of live traffic over a sliding
 * window, plus a small floor per second so a quiet service can still retry. Under a failing upstream
 * the budget runs out, so retries never multiply an outage. A ring of one-second buckets; pure.
 */

export interface RetryBudgetPolicy {
  ratio: number;
  min_per_second: number;
  /** Window length in ms (rounded to whole seconds, at least 1). */
  window: number;
}

export class RetryBudget {
  private readonly seconds: number;
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  private readonly stamps: Float64Array;
  private requestSum = 0;
  private retrySum = 0;

  constructor(private readonly policy: RetryBudgetPolicy) {
    this.seconds = Math.max(1, Math.round(policy.window / 1000));
    this.requests = new Float64Array(this.seconds);
    this.retries = new Float64Array(this.seconds);
    this.stamps = new Float64Array(this.seconds).fill(-1);
  }

  private bucket(now: number): number {
    const sec = Math.floor(now / 1000);
    const i = sec % this.seconds;
    if (this.stamps[i] !== sec) {
      // Expire every bucket older than the window (handles idle gaps longer than one second).
      for (let k = 0; k < this.seconds; k++) {
        if (this.stamps[k] !== -1 && sec - this.stamps[k] >= this.seconds) {
          this.requestSum -= this.requests[k];
          this.retrySum -= this.retries[k];
          this.requests[k] = 0;
          this.retries[k] = 0;
          this.stamps[k] = -1;
        }
      }
      if (this.stamps[i] !== sec) {
        this.requestSum -= this.requests[i];
        this.retrySum -= this.retries[i];
        this.requests[i] = 0;
        this.retries[i] = 0;
        this.stamps[i] = sec;
      }
    }
    return i;
  }

  /** Count one original (non-retry) request. */
  recordRequest(now: number): void {
    this.requests[this.bucket(now)]++;
    this.requestSum++;
  }

  /** Take one retry from the budget; false when the budget is spent. */
  tryRetry(now: number): boolean {
    const i = this.bucket(now);
    const allowed = this.policy.ratio * this.requestSum + this.policy.min_per_second * this.seconds;
    if (this.retrySum + 1 > allowed) return false;
    this.retries[i]++;
    this.retrySum++;
    return true;
  }

  snapshot(): { requests: number; retries: number; allowed: number } {
    return { requests: this.requestSum, retries: this.retrySum, allowed: Math.floor(this.policy.ratio * this.requestSum + this.policy.min_per_second * this.seconds) };
  }
}
