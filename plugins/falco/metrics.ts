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

interface Tally { rule: string; priority: string; n: number; exported: number }

export class FalcoMetrics {
  private readonly received: Counter<"rule" | "priority">;
  private readonly foldedCounter: Counter<string>;
  private readonly requests: Counter<"result">;
  private readonly notifications: Counter<"kind">;
  private readonly deliveries: Counter<"output" | "result">;
  private readonly responses: Counter<"action" | "mode" | "result">;
  /**
   * The per-alert counts are plain numbers, moved into the prom-client counters when scraped (sync(), run by
   * the first-registered gauge's collect): a prom-client inc() cost more than the rest of an alert's intake.
   */
  private readonly tallies = new Map<string, Map<string, Tally>>();
  private readonly other = new Map<string, Tally>();
  private folded = 0;
  private foldedExported = 0;
  private accepted = 0;
  private acceptedExported = 0;

  constructor(m: PluginMetrics, private readonly maxRules: number, src: MetricSources) {
    // Registered first, so its collect brings the counters up to date before they are read.
    m.gauge({ name: "open_groups", help: "Folding groups whose window is still open.", collect: (g) => { this.sync(); g.set(src.openGroups()); } });
    this.received = m.counter({ name: "alerts_received_total", help: "Falco alerts accepted, by rule and priority.", labelNames: ["rule", "priority"] as const });
    this.foldedCounter = m.counter({ name: "alerts_folded_total", help: "Alerts counted into an already open group (not announced on their own)." });
    this.requests = m.counter({ name: "intake_requests_total", help: "Intake requests by result (accepted, or the error code).", labelNames: ["result"] as const });
    this.notifications = m.counter({ name: "notifications_total", help: "Folded-alert notifications by kind (new, escalation, update).", labelNames: ["kind"] as const });
    this.deliveries = m.counter({ name: "output_deliveries_total", help: "Output delivery results: sent, retry (failed attempt), refused (4xx, dropped), dropped (queue full).", labelNames: ["output", "result"] as const });
    this.responses = m.counter({ name: "responses_total", help: "Response actions by action, mode and result.", labelNames: ["action", "mode", "result"] as const });
    m.gauge({ name: "quarantined_services", help: "Services currently quarantined (enforce or dry run).", collect: (g) => g.set(src.quarantined()) });
    m.gauge({ name: "output_queue_length", help: "Notifications waiting per output.", labelNames: ["output"] as const, collect: (g) => { g.reset(); for (const l of src.lanes()) g.set({ output: l.name }, l.stats.queued); } });
    m.gauge({ name: "output_up", help: "1 when the output's last delivery attempt succeeded.", labelNames: ["output"] as const, collect: (g) => { g.reset(); for (const l of src.lanes()) g.set({ output: l.name }, l.stats.up ? 1 : 0); } });
    this.requests.inc({ result: "accepted" }, 0);
    this.foldedCounter.inc(0);
    for (const k of ["new", "escalation", "update"]) this.notifications.inc({ kind: k }, 0);
  }

  /** Two-level lookup (no key string built per alert); rules beyond max_rule_labels share rule="other". */
  alert(rule: string, priority: string): void {
    let byPriority = this.tallies.get(rule);
    if (!byPriority) {
      if (this.tallies.size < this.maxRules) this.tallies.set(rule, (byPriority = new Map()));
      else { rule = "other"; byPriority = this.other; }
    }
    let t = byPriority.get(priority);
    if (!t) byPriority.set(priority, (t = { rule, priority, n: 0, exported: 0 }));
    t.n++;
  }
  fold(): void { this.folded++; }
  request(result: string): void {
    if (result === "accepted") this.accepted++;
    else this.requests.inc({ result });
  }

  /** Move the plain counts into prom-client (scrape time, and at stop). */
  sync(): void {
    for (const byPriority of [...this.tallies.values(), this.other]) for (const t of byPriority.values()) {
      if (t.n > t.exported) { this.received.inc({ rule: t.rule, priority: t.priority }, t.n - t.exported); t.exported = t.n; }
    }
    if (this.folded > this.foldedExported) { this.foldedCounter.inc(this.folded - this.foldedExported); this.foldedExported = this.folded; }
    if (this.accepted > this.acceptedExported) { this.requests.inc({ result: "accepted" }, this.accepted - this.acceptedExported); this.acceptedExported = this.accepted; }
  }

  notification(kind: string): void { this.notifications.inc({ kind }); }
  delivery(output: string, result: string, n: number): void { this.deliveries.inc({ output, result }, n); }
  response(action: string, mode: string, result: string): void { this.responses.inc({ action, mode, result }); }
}
