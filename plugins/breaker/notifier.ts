/**
 * Tells the world about transitions and alerts: the host bus (breaker.transition for the gateway,
 * platform.event for the events plugin) and the configured webhooks (JSON POST, bounded timeout,
 * two retries with full-jitter backoff, never blocking the caller).
 */
import type { Bus } from "../../src/core/bus";
import type { Logger } from "../../src/core/log";
import type { PlatformTlsClient } from "../../src/core/plugin";
import { retry, withTimeout } from "../../src/lib/resilience";
import type { Alert } from "./alerts";
import type { BreakerEntry, TransitionRecord } from "./breakers";

/** breaker.opened, breaker.closed, breaker.half_opened, breaker.forced_open, breaker.disabled */
const EVENT_OF_STATE: Record<string, string> = {
  open: "breaker.opened",
  closed: "breaker.closed",
  half_open: "breaker.half_opened",
  forced_open: "breaker.forced_open",
  disabled: "breaker.disabled",
};

export interface WebhookStats { sent: number; failed: number }

export class Notifier {
  readonly webhookStats: WebhookStats = { sent: 0, failed: 0 };
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly webhooks: readonly string[],
    private readonly webhookTimeoutMs: number,
    private readonly signal: AbortSignal,
    /** Platform mTLS: a webhook on a platform port is called with https and the host's certificate. */
    private readonly tls?: PlatformTlsClient,
  ) {
    if (tls) this.webhooks = webhooks.map((u) => tls.upgrade(u));
  }

  transition(entry: BreakerEntry, record: TransitionRecord): void {
    const m = entry.machine;
    const retryAt = m.state === 1 ? m.openUntil : undefined;
    this.bus.emit("breaker.transition", { name: entry.name, from: record.from, to: record.to, reason: record.reason, at: record.at, retryAt });
    const payload = { breaker: entry.name, from: record.from, to: record.to, reason: record.reason, at: new Date(record.at).toISOString(), origin: record.origin, ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}) };
    const type = EVENT_OF_STATE[record.to] ?? "breaker.transition";
    this.bus.emit("platform.event", { type, source: "breaker", payload });
    this.post({ type, ...payload });
  }

  alert(alert: Alert, phase: "raised" | "resolved"): void {
    const type = phase === "raised" ? "breaker.alert" : "breaker.alert_resolved";
    const payload = { id: alert.id, breaker: alert.breaker, kind: alert.kind, severity: alert.severity, message: alert.message, since: new Date(alert.since).toISOString() };
    this.bus.emit("platform.event", { type, source: "breaker", payload });
    this.post({ type, ...payload });
  }

  private post(body: Record<string, unknown>): void {
    if (this.webhooks.length === 0 || this.signal.aborted) return;
    const text = JSON.stringify(body);
    for (const url of this.webhooks) {
      const p = retry(
        () => withTimeout(async (signal) => {
          const tls = this.tls?.fetchTls(url);
          const res = await fetch(url, { method: "POST", body: text, headers: { "content-type": "application/json", "user-agent": "tradpal-breaker" }, signal, ...(tls ? { tls } : {}) } as RequestInit);
          await res.arrayBuffer().catch(() => undefined);
          if (res.status >= 500 || res.status === 429) throw new Error(`webhook answered ${res.status}`);
          if (res.status >= 400) this.log.warn("breaker webhook refused", { url, status: res.status });
        }, this.webhookTimeoutMs, this.signal),
        { attempts: 3, baseMs: 100, capMs: 1000, signal: this.signal },
      ).then(
        () => { this.webhookStats.sent++; },
        (err) => { this.webhookStats.failed++; if (!this.signal.aborted) this.log.warn("breaker webhook failed", { url, type: body.type, err: String(err) }); },
      ).finally(() => { this.pending.delete(p); });
      this.pending.add(p);
    }
  }

  /** Wait (bounded) for webhook deliveries in flight; used at stop. */
  async drain(ms: number): Promise<void> {
    if (this.pending.size === 0) return;
    await Promise.race([Promise.allSettled([...this.pending]), Bun.sleep(ms)]);
  }
}
