/** JSON shapes the endpoints, the SSE stream and the client share. */
import type { AlertTracker } from "./alerts";
import type { BreakerEntry, BreakerRegistry } from "./breakers";
import { OPEN } from "./state-machine";

const iso = (ms: number) => new Date(ms).toISOString();
const round = (n: number) => Math.round(n * 100) / 100;

export function breakerSummary(e: BreakerEntry, now: number) {
  const m = e.machine;
  const s = m.stats();
  const last = e.history.at(-1);
  return {
    name: e.name,
    state: e.stateName,
    since: iso(m.stateSince),
    failure_rate: round(s.failureRate),
    slow_call_rate: round(s.slowCallRate),
    window_calls: s.calls,
    rejected_calls: e.rejected,
    next_half_open_at: m.state === OPEN ? iso(m.openUntil) : null,
    retry_after_ms: m.state === OPEN ? Math.max(0, m.openUntil - now) : null,
    last_transition: last ? { from: last.from, to: last.to, reason: last.reason, at: iso(last.at), origin: last.origin } : null,
    source: e.source,
  };
}

export function breakerDetail(e: BreakerEntry, now: number) {
  const m = e.machine;
  const p = m.currentPolicy;
  const s = m.stats();
  return {
    ...breakerSummary(e, now),
    window: {
      type: p.windowType,
      size: p.windowSize,
      calls: s.calls,
      failures: s.failures,
      slow_calls: s.slowCalls,
      failure_rate: round(s.failureRate),
      slow_call_rate: round(s.slowCallRate),
    },
    consecutive_failures: m.consecutiveFailures,
    trips: m.trips,
    half_open: { permitted: p.halfOpenMaxCalls, issued: m.trialPermits, completed: m.trialCalls, failed: m.trialFailures },
    totals: { success: e.successes, failure: e.failures, ignored: e.ignored, rejected: e.rejected },
    policy: {
      failure_threshold: p.consecutiveFailureThreshold,
      failure_rate_threshold: p.failureRateThreshold,
      minimum_calls: p.minimumCalls,
      slow_call_duration_ms: p.slowCallDurationMs,
      slow_call_rate_threshold: p.slowCallRateThreshold,
      recovery_timeout_ms: p.recoveryTimeoutMs,
      next_recovery_timeout_ms: m.nextRecoveryTimeoutMs(),
      max_recovery_timeout_ms: p.maxRecoveryTimeoutMs,
      half_open_max_calls: p.halfOpenMaxCalls,
    },
    instances: e.instances,
    transitions: e.history.map((t) => ({ from: t.from, to: t.to, reason: t.reason, at: iso(t.at), origin: t.origin })).reverse(),
  };
}

export function alertView(a: { id: string; breaker: string; kind: string; severity: string; message: string; since: number }) {
  return { id: a.id, breaker: a.breaker, kind: a.kind, severity: a.severity, message: a.message, since: iso(a.since) };
}

/** GET /dashboard (JSON) and each SSE snapshot. */
export function dashboard(registry: BreakerRegistry, alerts: AlertTracker, mode: "embedded" | "cluster") {
  const now = registry.now();
  const breakers = [...registry.entries.values()].sort((a, b) => a.name.localeCompare(b.name)).map((e) => {
    const d = breakerDetail(e, now);
    return { ...breakerSummary(e, now), transitions: d.transitions.slice(0, 5), totals: d.totals, window: d.window };
  });
  const counts: Record<string, number> = { closed: 0, open: 0, half_open: 0, forced_open: 0, disabled: 0 };
  for (const b of breakers) counts[b.state]++;
  return {
    generated_at: iso(now),
    mode,
    summary: { total: breakers.length, ...counts, active_alerts: alerts.active.size },
    breakers,
    alerts: alerts.list().map(alertView),
  };
}
