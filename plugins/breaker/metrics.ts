/**
 * Prometheus metrics of the breakers (full names tradpal_breaker_*):
 *   breaker_state{breaker,state}            gauge, 1 for the current state (enum-as-labels convention)
 *   breaker_transitions_total{breaker,from,to}
 *   breaker_calls_total{breaker,outcome}    outcome = success | failure | ignored
 *   breaker_rejected_calls_total{breaker}
 *   breaker_window_failure_ratio{breaker}   0..1 over the sliding window
 *   breaker_window_slow_call_ratio{breaker}
 *   breaker_active_alerts{severity}
 * Per-outcome children are cached per breaker so recording costs one property increment.
 */
import type { Counter } from "prom-client";
import type { PluginMetrics } from "../../src/core/metrics";
import type { AlertTracker } from "./alerts";
import type { BreakerEntry, BreakerRegistry, TransitionRecord } from "./breakers";
import { FAILURE, IGNORED, STATE_NAMES, type Outcome } from "./state-machine";

type Child = ReturnType<Counter<string>["labels"]>;

export class BreakerMetrics {
  private readonly transitions: Counter<"breaker" | "from" | "to">;
  private readonly calls: Counter<"breaker" | "outcome">;
  private readonly rejected: Counter<"breaker">;
  private readonly children = new Map<string, [Child, Child, Child]>();

  constructor(metrics: PluginMetrics, registry: BreakerRegistry, alerts: AlertTracker) {
    // Registered first: its collect also brings the rejected counter up to date before it is read.
    metrics.gauge({
      name: "state",
      help: "Current state of each breaker: 1 for the state it is in, 0 for the others.",
      labelNames: ["breaker", "state"] as const,
      collect: (g) => {
        g.reset();
        for (const e of registry.entries.values()) {
          for (let s = 0; s < STATE_NAMES.length; s++) g.set({ breaker: e.name, state: STATE_NAMES[s] }, e.machine.state === s ? 1 : 0);
          if (e.rejected > e.rejectedExported) { this.rejected.inc({ breaker: e.name }, e.rejected - e.rejectedExported); e.rejectedExported = e.rejected; }
        }
      },
    });
    this.transitions = metrics.counter({ name: "transitions_total", help: "Breaker state transitions.", labelNames: ["breaker", "from", "to"] as const });
    this.calls = metrics.counter({ name: "calls_total", help: "Calls recorded by each breaker, by outcome (success, failure, ignored).", labelNames: ["breaker", "outcome"] as const });
    this.rejected = metrics.counter({ name: "rejected_calls_total", help: "Calls refused because the breaker was open (or half-open and full).", labelNames: ["breaker"] as const });
    metrics.gauge({
      name: "window_failure_ratio",
      help: "Failed calls / calls in each breaker's sliding window (0..1).",
      labelNames: ["breaker"] as const,
      collect: (g) => { g.reset(); for (const e of registry.entries.values()) g.set({ breaker: e.name }, e.machine.stats().failureRate / 100); },
    });
    metrics.gauge({
      name: "window_slow_call_ratio",
      help: "Slow calls / calls in each breaker's sliding window (0..1).",
      labelNames: ["breaker"] as const,
      collect: (g) => { g.reset(); for (const e of registry.entries.values()) g.set({ breaker: e.name }, e.machine.stats().slowCallRate / 100); },
    });
    metrics.gauge({
      name: "active_alerts",
      help: "Active breaker alerts by severity.",
      labelNames: ["severity"] as const,
      collect: (g) => {
        let critical = 0, warning = 0;
        for (const a of alerts.active.values()) a.severity === "critical" ? critical++ : warning++;
        g.set({ severity: "critical" }, critical);
        g.set({ severity: "warning" }, warning);
      },
    });
  }

  /** Pre-create the label children (and zero series) of a new breaker. */
  created(entry: BreakerEntry): void {
    const name = entry.name;
    const kids: [Child, Child, Child] = [
      this.calls.labels({ breaker: name, outcome: "success" }),
      this.calls.labels({ breaker: name, outcome: "failure" }),
      this.calls.labels({ breaker: name, outcome: "ignored" }),
    ];
    for (const k of kids) k.inc(0);
    this.rejected.inc({ breaker: name }, 0);
    this.children.set(name, kids);
  }

  outcome(entry: BreakerEntry, outcome: Outcome): void {
    let kids = this.children.get(entry.name);
    if (!kids) { this.created(entry); kids = this.children.get(entry.name)!; }
    kids[outcome === FAILURE ? 1 : outcome === IGNORED ? 2 : 0].inc();
  }

  transition(entry: BreakerEntry, record: TransitionRecord): void {
    this.transitions.inc({ breaker: entry.name, from: record.from, to: record.to });
  }
}
