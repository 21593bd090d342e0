/**
 * The breaker state machine: pure (no I/O, injected clock), allocation-free on the ask/record path.
 *
 *   CLOSED ──(failure rate | slow rate | consecutive failures)──▶ OPEN
 *   OPEN ──(recovery timeout elapsed, on the next ask or tick)──▶ HALF_OPEN
 *   HALF_OPEN ──(all trial calls healthy)──▶ CLOSED      HALF_OPEN ──(trials fail)──▶ OPEN (longer timeout)
 *   any ──operator──▶ FORCED_OPEN | DISABLED | CLOSED (reset)
 *
 * Each trip from HALF_OPEN back to OPEN multiplies the recovery timeout (capped); closing resets it.
 */
import { createWindow, FLAG_FAILURE, FLAG_SLOW, type SlidingWindow } from "./sliding-window";
import { validatePolicy, type BreakerPolicy } from "./policy";

export const CLOSED = 0;
export const OPEN = 1;
export const HALF_OPEN = 2;
export const FORCED_OPEN = 3;
export const DISABLED = 4;
export type StateCode = 0 | 1 | 2 | 3 | 4;
export const STATE_NAMES = ["closed", "open", "half_open", "forced_open", "disabled"] as const;
export type StateName = (typeof STATE_NAMES)[number];

/** How a finished call is judged (see classify.ts for status/error → outcome). */
export const SUCCESS = 0;
export const FAILURE = 1;
/** Neither success nor failure (e.g. a cancelled call): releases a trial slot, leaves the window alone. */
export const IGNORED = 2;
export type Outcome = 0 | 1 | 2;

/** Called on every state change (sync, on the caller's stack: keep it cheap). */
export type TransitionListener = (breaker: BreakerStateMachine, from: StateCode, to: StateCode, reason: string, at: number) => void;

export class BreakerStateMachine {
  state: StateCode = CLOSED;
  /** When the current state was entered (epoch ms of the injected clock). */
  stateSince: number;
  /** OPEN: when the next trial is allowed. */
  openUntil = 0;
  /** Consecutive trips without closing in between (drives the growing recovery timeout). */
  trips = 0;
  consecutiveFailures = 0;
  /** HALF_OPEN bookkeeping. */
  trialPermits = 0;
  trialCalls = 0;
  trialFailures = 0;
  trialSlow = 0;
  /** Bumped on every state change: a permit settled in another epoch than it was granted in does not move the machine. */
  epoch = 0;
  /** When the last trial permit was handed out (only tracked when halfOpenMaxWaitMs > 0). */
  private lastTrialAt = 0;
  private window: SlidingWindow;
  private policy: BreakerPolicy;

  constructor(
    readonly name: string,
    policy: BreakerPolicy,
    private readonly now: () => number,
    public onTransition: TransitionListener | undefined = undefined,
  ) {
    const errors = validatePolicy(policy);
    if (errors.length) throw new RangeError(`breaker ${name}: ${errors.join("; ")}`);
    this.policy = { ...policy };
    this.window = createWindow(policy.windowType, policy.windowSize);
    this.stateSince = now();
  }

  get currentPolicy(): Readonly<BreakerPolicy> { return this.policy; }

  /** New thresholds (config reload): state is kept; the window is rebuilt only when its shape changes. */
  updatePolicy(policy: BreakerPolicy): void {
    const errors = validatePolicy(policy);
    if (errors.length) throw new RangeError(`breaker ${this.name}: ${errors.join("; ")}`);
    if (policy.windowType !== this.policy.windowType || policy.windowSize !== this.policy.windowSize) {
      this.window = createWindow(policy.windowType, policy.windowSize);
    }
    this.policy = { ...policy };
  }

  /** May a call go through now? Counts a trial permit in HALF_OPEN. */
  tryAcquire(): boolean {
    switch (this.state) {
      case CLOSED:
      case DISABLED:
        return true;
      case OPEN:
        if (this.now() < this.openUntil) return false;
        this.toHalfOpen("recovery timeout elapsed");
        return this.takeTrial();
      case HALF_OPEN:
        return this.takeTrial();
      default:
        return false;
    }
  }

  /**
   * A trial slot, if one is free. A permitted call may never report (the caller gave up before calling
   * the upstream): after `halfOpenMaxWaitMs` without a new trial, unreported slots are given back so the
   * breaker cannot stay half-open forever.
   */
  private takeTrial(): boolean {
    const wait = this.policy.halfOpenMaxWaitMs;
    if (this.trialPermits >= this.policy.halfOpenMaxCalls) {
      if (wait <= 0 || this.trialCalls >= this.trialPermits || this.now() - this.lastTrialAt < wait) return false;
      this.trialPermits = this.trialCalls;
    }
    this.trialPermits++;
    if (wait > 0) this.lastTrialAt = this.now();
    return true;
  }

  /** Time-driven transitions without traffic (OPEN → HALF_OPEN when due); call from a timer. */
  tick(): void {
    if (this.state === OPEN && this.now() >= this.openUntil) this.toHalfOpen("recovery timeout elapsed");
  }

  /** Record a finished call. `durationMs` feeds the slow-call rule. */
  record(outcome: Outcome, durationMs: number): void {
    const state = this.state;
    if (state === CLOSED) this.recordClosed(outcome, durationMs);
    else if (state === HALF_OPEN) this.recordHalfOpen(outcome, durationMs);
    // OPEN / FORCED_OPEN / DISABLED: late or unguarded calls do not move the machine.
  }

  private flagsOf(outcome: Outcome, durationMs: number): number {
    const slowMs = this.policy.slowCallDurationMs;
    return (outcome === FAILURE ? FLAG_FAILURE : 0) | (slowMs > 0 && durationMs >= slowMs ? FLAG_SLOW : 0);
  }

  private recordClosed(outcome: Outcome, durationMs: number): void {
    if (outcome === IGNORED) return;
    const p = this.policy;
    // Count windows ignore time: skip the clock read on the hot path.
    const now = p.windowType === "time" ? this.now() : 0;
    const flags = this.flagsOf(outcome, durationMs);
    this.window.record(flags, now);
    if (outcome === FAILURE) {
      this.consecutiveFailures++;
      if (p.consecutiveFailureThreshold > 0 && this.consecutiveFailures >= p.consecutiveFailureThreshold) {
        this.toOpen(`${this.consecutiveFailures} consecutive failures (threshold ${p.consecutiveFailureThreshold})`);
        return;
      }
    } else {
      this.consecutiveFailures = 0;
    }
    const calls = this.window.calls(now);
    if (calls < p.minimumCalls) return;
    if (p.failureRateThreshold > 0 && (flags & FLAG_FAILURE) !== 0) {
      const rate = (this.window.failures(now) * 100) / calls;
      if (rate >= p.failureRateThreshold) {
        this.toOpen(`failure rate ${rate.toFixed(1)}% ≥ ${p.failureRateThreshold}% over ${calls} calls`);
        return;
      }
    }
    if (p.slowCallDurationMs > 0 && (flags & FLAG_SLOW) !== 0) {
      const rate = (this.window.slow(now) * 100) / calls;
      if (rate >= p.slowCallRateThreshold) this.toOpen(`slow-call rate ${rate.toFixed(1)}% ≥ ${p.slowCallRateThreshold}% (≥ ${p.slowCallDurationMs}ms) over ${calls} calls`);
    }
  }

  private recordHalfOpen(outcome: Outcome, durationMs: number): void {
    if (outcome === IGNORED) {
      if (this.trialPermits > this.trialCalls) this.trialPermits--;
      return;
    }
    const p = this.policy;
    const flags = this.flagsOf(outcome, durationMs);
    this.trialCalls++;
    this.trialFailures += flags & FLAG_FAILURE;
    this.trialSlow += (flags & FLAG_SLOW) >> 1;
    const max = p.halfOpenMaxCalls;
    // Rates over the full trial budget: once the failures alone reach the threshold, no later success can save it.
    // Without a rate rule (the seed's consecutive-failures mode) any failed trial re-opens.
    const failRate = (this.trialFailures * 100) / max;
    if (this.trialFailures > 0 && (p.failureRateThreshold === 0 || failRate >= p.failureRateThreshold || p.consecutiveFailureThreshold === 1)) {
      this.toOpen(`${this.trialFailures} of ${max} trial calls failed`);
      return;
    }
    if (p.slowCallDurationMs > 0 && this.trialSlow > 0 && (this.trialSlow * 100) / max >= p.slowCallRateThreshold) {
      this.toOpen(`${this.trialSlow} of ${max} trial calls were slow`);
      return;
    }
    if (this.trialCalls >= max) this.toClosed(`${max} trial calls succeeded`);
  }

  /** Operator: back to CLOSED with an empty window and the recovery timeout reset. */
  reset(reason = "reset by operator"): void { this.toClosed(reason); }
  forceOpen(reason = "forced open by operator"): void { this.transition(FORCED_OPEN, reason); }
  disable(reason = "disabled by operator"): void { this.transition(DISABLED, reason); }

  /** The recovery timeout the next trip would use. */
  nextRecoveryTimeoutMs(): number {
    const p = this.policy;
    return Math.min(p.maxRecoveryTimeoutMs, p.recoveryTimeoutMs * p.recoveryBackoffMultiplier ** Math.max(0, this.trips));
  }

  private toOpen(reason: string): void {
    const timeout = this.nextRecoveryTimeoutMs();
    this.trips++;
    this.openUntil = this.now() + timeout;
    this.transition(OPEN, reason);
  }

  private toHalfOpen(reason: string): void {
    this.trialPermits = 0;
    this.trialCalls = 0;
    this.trialFailures = 0;
    this.trialSlow = 0;
    this.transition(HALF_OPEN, reason);
  }

  /** Closing always starts the recovery timeout over and the window empty. */
  private toClosed(reason: string): void {
    this.window.clear();
    this.consecutiveFailures = 0;
    this.trips = 0;
    this.openUntil = 0;
    this.transition(CLOSED, reason);
  }

  /**
   * Apply a state decided elsewhere (another instance in cluster mode). The listener is told, so
   * local metrics and events follow; the caller marks it as remote so it is not published back.
   */
  applyRemote(to: StateCode, openUntil: number, reason: string): void {
    if (to === this.state && (to !== OPEN || openUntil === this.openUntil)) return;
    if (to === OPEN) { this.openUntil = openUntil; this.trips = Math.max(1, this.trips); }
    if (to === CLOSED) { this.window.clear(); this.consecutiveFailures = 0; this.trips = 0; this.openUntil = 0; }
    if (to === HALF_OPEN) { this.trialPermits = 0; this.trialCalls = 0; this.trialFailures = 0; this.trialSlow = 0; }
    const from = this.state;
    this.state = to;
    this.epoch++;
    this.stateSince = this.now();
    if (from !== to || to === OPEN) this.onTransition?.(this, from, to, reason, this.stateSince);
  }

  private transition(to: StateCode, reason: string): void {
    const from = this.state;
    this.state = to;
    this.epoch++;
    this.stateSince = this.now();
    if (from !== to || to === OPEN) this.onTransition?.(this, from, to, reason, this.stateSince);
  }

  /** Window statistics for endpoints and metrics (allocates: not for the hot path). */
  stats(): { calls: number; failures: number; slowCalls: number; failureRate: number; slowCallRate: number } {
    const now = this.now();
    const calls = this.window.calls(now);
    const failures = this.window.failures(now);
    const slowCalls = this.window.slow(now);
    return {
      calls,
      failures,
      slowCalls,
      failureRate: calls ? (failures * 100) / calls : 0,
      slowCallRate: calls ? (slowCalls * 100) / calls : 0,
    };
  }
}
