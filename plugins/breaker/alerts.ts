/**
 * Active alerts, derived from the breakers: open (critical), failure rate at or above the warning
 * level while still closed (warning), and flapping — repeated re-opens from half-open (warning).
 * `evaluate` returns what started and what ended since the last call, so each is announced once.
 */
import type { BreakerEntry } from "./breakers";
import { CLOSED, FORCED_OPEN, OPEN } from "./state-machine";

export type AlertKind = "breaker_open" | "failure_rate_high" | "breaker_flapping";
export type Severity = "critical" | "warning";

export interface Alert {
  id: string;
  breaker: string;
  kind: AlertKind;
  severity: Severity;
  message: string;
  /** Epoch ms when the condition started. */
  since: number;
}

export interface AlertSettings {
  failureRateWarning: number;
  flappingTrips: number;
  flappingWindowMs: number;
}

export class AlertTracker {
  readonly active = new Map<string, Alert>();

  evaluate(entries: Iterable<BreakerEntry>, settings: AlertSettings, now: number): { raised: Alert[]; resolved: Alert[] } {
    const seen = new Set<string>();
    const raised: Alert[] = [];
    const raise = (entry: BreakerEntry, kind: AlertKind, severity: Severity, message: string, since: number) => {
      const id = `${entry.name}:${kind}`;
      seen.add(id);
      const existing = this.active.get(id);
      if (existing) { existing.message = message; return; }
      const alert: Alert = { id, breaker: entry.name, kind, severity, message, since };
      this.active.set(id, alert);
      raised.push(alert);
    };
    for (const entry of entries) {
      const m = entry.machine;
      if (m.state === OPEN || m.state === FORCED_OPEN) {
        const why = entry.history.at(-1)?.reason ?? "open";
        raise(entry, "breaker_open", "critical", `${entry.name} is ${entry.stateName}: ${why}`, this.openedSince(entry, m.stateSince));
      }
      if (settings.failureRateWarning > 0 && m.state === CLOSED) {
        const s = m.stats();
        if (s.calls >= m.currentPolicy.minimumCalls && s.failureRate >= settings.failureRateWarning) {
          raise(entry, "failure_rate_high", "warning", `${entry.name} failure rate ${s.failureRate.toFixed(1)}% ≥ ${settings.failureRateWarning}% over ${s.calls} calls`, now);
        }
      }
      const recent = entry.reopenTimes.filter((t) => now - t <= settings.flappingWindowMs);
      if (recent.length >= settings.flappingTrips) {
        raise(entry, "breaker_flapping", "warning", `${entry.name} re-opened ${recent.length} times from half-open in ${Math.round(settings.flappingWindowMs / 1000)}s`, recent[0]);
      }
    }
    const resolved: Alert[] = [];
    for (const [id, alert] of this.active) {
      if (!seen.has(id)) { this.active.delete(id); resolved.push(alert); }
    }
    return { raised, resolved };
  }

  /** An open alert's since-time is the first opening of the current outage, not the last re-trip. */
  private openedSince(entry: BreakerEntry, fallback: number): number {
    const h = entry.history;
    let since = fallback;
    for (let i = h.length - 1; i >= 0; i--) {
      if (h[i].to === "closed" || h[i].to === "disabled") break;
      if (h[i].to === "open" || h[i].to === "forced_open") since = h[i].at;
    }
    return since;
  }

  list(): Alert[] {
    const order: Record<Severity, number> = { critical: 0, warning: 1 };
    return [...this.active.values()].sort((a, b) => order[a.severity] - order[b.severity] || a.since - b.since);
  }
}
