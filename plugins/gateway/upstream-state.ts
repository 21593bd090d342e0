/**
 * Per-instance state that must outlive a config reload: in-flight count, latency EWMA, active-check
 * health and passive (outlier) ejection. Kept in ctx.shared keyed by instance URL, so an instance whose
 * URL did not change keeps its history. Pure functions here; timers and I/O live in health.ts.
 */
import type { SharedPool } from "../../src/core/shared-pool";

export interface UpstreamState {
  readonly url: string;
  /** Requests in flight to this instance (least_connections, p2c_ewma). */
  active: number;
  /** Latency EWMA in ms (p2c_ewma); 0 until the first observation. */
  ewmaMs: number;
  ewmaAt: number;
  /** Active health check verdict; instances start healthy so traffic flows before the first check. */
  healthy: boolean;
  checkPasses: number;
  checkFailures: number;
  lastCheckError?: string;
  /** Passive outlier detection. */
  consecutiveFailures: number;
  ejectedUntil: number;
  ejections: number;
  /** Lifetime counters for GET /services. */
  requests: number;
  failures: number;
}

export function upstreamKey(url: string): string { return `gateway:upstream:${url}`; }

export function upstreamState(shared: SharedPool, url: string): UpstreamState {
  return shared.getOrCreate<UpstreamState>(upstreamKey(url), () => ({
    url, active: 0, ewmaMs: 0, ewmaAt: 0, healthy: true, checkPasses: 0, checkFailures: 0,
    consecutiveFailures: 0, ejectedUntil: 0, ejections: 0, requests: 0, failures: 0,
  }));
}

/** May this instance take traffic at `now`? */
export function isAvailable(s: UpstreamState, now: number): boolean {
  return s.healthy && s.ejectedUntil <= now;
}

/** Decay time of the latency EWMA: old samples weigh e^-1 after this long (Linkerd uses ~10 s). */
const EWMA_DECAY_MS = 10_000;

export function observeLatency(s: UpstreamState, latencyMs: number, now: number): void {
  if (s.ewmaAt === 0) { s.ewmaMs = latencyMs; s.ewmaAt = now; return; }
  const dt = Math.max(0, now - s.ewmaAt);
  const w = Math.exp(-dt / EWMA_DECAY_MS);
  // A slower sample is taken at once (peak-sensitive, as Finagle's peak EWMA), a faster one decays in.
  s.ewmaMs = latencyMs > s.ewmaMs ? latencyMs : s.ewmaMs * w + latencyMs * (1 - w);
  s.ewmaAt = now;
}

export interface OutlierPolicy {
  enabled: boolean;
  consecutive_failures: number;
  base_ejection: number;
  max_ejection: number;
}

/** Record a proxied call's outcome. Returns true when this outcome ejected the instance. */
/** Whether one more of `members` may be ejected at `now` under the cap (at least one may always be). */
export function ejectionAllowed(members: readonly { state: UpstreamState }[], maxPercent: number, now: number): boolean {
  let ejected = 0;
  for (const m of members) if (m.state.ejectedUntil > now) ejected++;
  return ejected < Math.max(1, Math.floor((members.length * maxPercent) / 100));
}

/**
 * `canEject`: asked only when the instance reached the threshold; false when the service's ejection cap
 * (max_ejection_percent) is reached, so the failures keep counting but the instance stays in.
 */
export function recordOutcome(s: UpstreamState, failed: boolean, policy: OutlierPolicy, now: number, canEject: () => boolean = () => true): boolean {
  s.requests++;
  if (!failed) {
    s.consecutiveFailures = 0;
    return false;
  }
  s.failures++;
  s.consecutiveFailures++;
  if (!policy.enabled || s.consecutiveFailures < policy.consecutive_failures || s.ejectedUntil > now || !canEject()) return false;
  const backoff = Math.min(policy.max_ejection, policy.base_ejection * 2 ** Math.min(s.ejections, 20));
  s.ejections++;
  s.ejectedUntil = now + backoff;
  s.consecutiveFailures = 0;
  return true;
}

export interface CheckPolicy {
  healthy_threshold: number;
  unhealthy_threshold: number;
}

/** Record an active check result. Returns the new health when it flipped, else undefined. */
export function recordCheck(s: UpstreamState, passed: boolean, policy: CheckPolicy, error?: string): boolean | undefined {
  if (passed) {
    s.checkFailures = 0;
    s.checkPasses++;
    s.lastCheckError = undefined;
    if (!s.healthy && s.checkPasses >= policy.healthy_threshold) {
      s.healthy = true;
      // A recovered instance starts with a clean slate: no stale ejection holds it out.
      s.ejectedUntil = 0;
      s.consecutiveFailures = 0;
      return true;
    }
    return undefined;
  }
  s.checkPasses = 0;
  s.checkFailures++;
  s.lastCheckError = error;
  if (s.healthy && s.checkFailures >= policy.unhealthy_threshold) {
    s.healthy = false;
    return false;
  }
  return undefined;
}
