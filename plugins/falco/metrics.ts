/**
 * Prometheus metrics of the falco plugin (full names tradpal_falco_*):
 *   alerts_received_total{rule,priority}     every raw alert accepted (rule label capped: "other" beyond)
 *   alerts_folded_total                      alerts counted into an already open group
 *   intake_requests_total{result}            accepted | the FALCO_ERR_* code of a refusal
 *   notifications_total{kind}                new | escalation | update
 *   output_deliveries_total{output,result}   sent | retry | refused | dropped (per notification; retry per attempt)
 *   output_queue_length{output}, output_up{output}
 *   responses_total{action,mode,result}      quarantine / lift, dry_run / enforce, done | already | no_service | failed
 *   open_groups, quarantined_services
 */
import type { Counter } from "prom-client";
import type { PluginMetrics } from "../../src/core/metrics";
import type { LaneStats } from "./outputs/queue";

export interface MetricSources {
  openGroups(): number;
  quarantined(): number;
  lanes(): { name: string; stats: LaneStats }[];
}

export class FalcoMetrics {
  private readonly received: Counter<"rule" | "priority">;
  readonly folded: Counter<string>;
  private readonly requests: Counter<"result">;
  private readonly notifications: Counter<"kind">;
  private readonly deliveries: Counter<"output" | "result">;
  private readonly responses: Counter<"action" | "mode" | "result">;
  private readonly rules = new Set<string>();

  constructor(m: PluginMetrics, private readonly maxRules: number, src: MetricSources) {
    this.received = m.counter({ name: "alerts_received_total", help: "Falco alerts accepted, by rule and priority.", labelNames: ["rule", "priority"] as const });
    this.folded = m.counter({ name: "alerts_folded_total", help: "Alerts counted into an already open group (not announced on their own)." });
    this.requests = m.counter({ name: "intake_requests_total", help: "Intake requests by result (accepted, or the error code).", labelNames: ["result"] as const });
    this.notifications = m.counter({ name: "notifications_total", help: "Folded-alert notifications by kind (new, escalation, update).", labelNames: ["kind"] as const });
    this.deliveries = m.counter({ name: "output_deliveries_total", help: "Output delivery results: sent, retry (failed attempt), refused (4xx, dropped), dropped (queue full).", labelNames: ["output", "result"] as const });
    this.responses = m.counter({ name: "responses_total", help: "Response actions by action, mode and result.", labelNames: ["action", "mode", "result"] as const });
    m.gauge({ name: "open_groups", help: "Folding groups whose window is still open.", collect: (g) => g.set(src.openGroups()) });
    m.gauge({ name: "quarantined_services", help: "Services currently quarantined (enforce or dry run).", collect: (g) => g.set(src.quarantined()) });
    m.gauge({ name: "output_queue_length", help: "Notifications waiting per output.", labelNames: ["output"] as const, collect: (g) => { g.reset(); for (const l of src.lanes()) g.set({ output: l.name }, l.stats.queued); } });
    m.gauge({ name: "output_up", help: "1 when the output's last delivery attempt succeeded.", labelNames: ["output"] as const, collect: (g) => { g.reset(); for (const l of src.lanes()) g.set({ output: l.name }, l.stats.up ? 1 : 0); } });
    this.requests.inc({ result: "accepted" }, 0);
    for (const k of ["new", "escalation", "update"]) this.notifications.inc({ kind: k }, 0);
  }

  alert(rule: string, priority: string): void {
    if (!this.rules.has(rule)) {
      if (this.rules.size >= this.maxRules) rule = "other";
      else this.rules.add(rule);
    }
    this.received.inc({ rule, priority });
  }
  request(result: string): void { this.requests.inc({ result }); }
  notification(kind: string): void { this.notifications.inc({ kind }); }
  delivery(output: string, result: string, n: number): void { this.deliveries.inc({ output, result }, n); }
  response(action: string, mode: string, result: string): void { this.responses.inc({ action, mode, result }); }
}
