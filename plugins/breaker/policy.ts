/**
 * A breaker's policy: what opens it (failure rate, slow-call rate, failures in a row over a count or time
 * window), how long it stays open (recovery timeout, backed off on each re-trip) and how it probes
 * (half-open trial calls). The state machine (state-machine.ts) applies it; the schema (schema.ts)
 * decodes it from config.yaml and the admin API.
 */
export interface BreakerPolicy {
  windowType: "count" | "time";
  /** Calls (count window) or seconds (time window). */
  windowSize: number;
  /** No rate is judged before the window holds this many calls. */
  minimumCalls: number;
  /** Percent (0–100] of failed calls that opens the breaker; 0 disables the rate rule. */
  failureRateThreshold: number;
  /** The seed's FAILURE_THRESHOLD: this many failures in a row open the breaker; 0 disables. */
  consecutiveFailureThreshold: number;
  /** A call slower than this is "slow"; 0 disables the slow-call rule. */
  slowCallDurationMs: number;
  /** Percent (0–100] of slow calls that opens the breaker. */
  slowCallRateThreshold: number;
  /** The seed's RECOVERY_TIMEOUT: time OPEN before the first trial. */
  recoveryTimeoutMs: number;
  /** Each consecutive re-trip multiplies the timeout by this (1 = constant). */
  recoveryBackoffMultiplier: number;
  maxRecoveryTimeoutMs: number;
  /** Trial calls let through in HALF_OPEN; all must complete before the verdict. */
  halfOpenMaxCalls: number;
  /** Trial permits not reported this long after the last one was handed out are given back; 0 waits forever. */
  halfOpenMaxWaitMs: number;
}

export const DEFAULT_POLICY: Readonly<BreakerPolicy> = Object.freeze({
  windowType: "count",
  windowSize: 20,
  minimumCalls: 10,
  failureRateThreshold: 50,
  consecutiveFailureThreshold: 5,
  slowCallDurationMs: 0,
  slowCallRateThreshold: 100,
  recoveryTimeoutMs: 60_000,
  recoveryBackoffMultiplier: 2,
  maxRecoveryTimeoutMs: 600_000,
  halfOpenMaxCalls: 3,
  halfOpenMaxWaitMs: 60_000,
});

export function validatePolicy(p: BreakerPolicy): string[] {
  const errors: string[] = [];
  const int = (v: number, min: number, name: string) => { if (!Number.isInteger(v) || v < min) errors.push(`${name} must be an integer ≥ ${min}`); };
  int(p.windowSize, 1, "windowSize");
  int(p.minimumCalls, 1, "minimumCalls");
  int(p.consecutiveFailureThreshold, 0, "consecutiveFailureThreshold");
  int(p.halfOpenMaxCalls, 1, "halfOpenMaxCalls");
  if (!(p.failureRateThreshold >= 0 && p.failureRateThreshold <= 100)) errors.push("failureRateThreshold must be in [0, 100]");
  if (!(p.slowCallRateThreshold > 0 && p.slowCallRateThreshold <= 100)) errors.push("slowCallRateThreshold must be in (0, 100]");
  if (!(p.recoveryTimeoutMs >= 0)) errors.push("recoveryTimeoutMs must be ≥ 0");
  if (!(p.maxRecoveryTimeoutMs >= p.recoveryTimeoutMs)) errors.push("maxRecoveryTimeoutMs must be ≥ recoveryTimeoutMs");
  if (!(p.recoveryBackoffMultiplier >= 1)) errors.push("recoveryBackoffMultiplier must be ≥ 1");
  if (p.failureRateThreshold === 0 && p.consecutiveFailureThreshold === 0 && p.slowCallDurationMs === 0) errors.push("at least one of failureRateThreshold, consecutiveFailureThreshold, slowCallDurationMs must be set");
  return errors;
}
