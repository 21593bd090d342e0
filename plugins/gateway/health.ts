/**
 * Active health checks: every `interval`, GET <instance><path> with a timeout; a 2xx/3xx passes.
 * `unhealthy_threshold` consecutive failures take an instance out of its pool, `healthy_threshold`
 * consecutive passes bring it back (passive ejection lives in upstream-state.ts, fed by the proxy).
 */
import type { Logger } from "../../src/core/log";
import { recordCheck } from "./upstream-state";
import type { ServiceRuntime } from "./services";
import type { GatewayMetrics } from "./metrics";

export class HealthChecker {
  private timers: ReturnType<typeof setInterval>[] = [];
  private stopped = false;
  private readonly inflight = new Set<string>();

  /** `onFlip`: an instance changed health (the gateway publishes service.health_changed). */
  constructor(private readonly services: readonly ServiceRuntime[], private readonly log: Logger, private readonly metrics: GatewayMetrics, private readonly onFlip?: (service: string, instance: string, healthy: boolean, error?: string) => void) {}

  start(): void {
    for (const svc of this.services) {
      const hc = svc.settings.health_check;
      if (!hc.enabled) continue;
      void this.checkService(svc);
      this.timers.push(setInterval(() => void this.checkService(svc), Math.max(50, hc.interval)));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Check every member of a service once (skips a member whose previous check is still running). */
  async checkService(svc: ServiceRuntime): Promise<void> {
    const hc = svc.settings.health_check;
    await Promise.all(svc.members.map(async (m) => {
      const key = `${svc.name} ${m.url}`;
      if (this.stopped || this.inflight.has(key)) return;
      this.inflight.add(key);
      let passed = false;
      let error: string | undefined;
      try {
        const init = { signal: AbortSignal.timeout(hc.timeout), redirect: "manual", headers: { "user-agent": "tradpal-gateway-health" }, ...(svc.tlsSource ? { tls: svc.tlsSource.get() } : {}) };
        const res = await fetch(m.url + hc.path, init as RequestInit);
        await res.arrayBuffer().catch(() => undefined);
        passed = res.status >= 200 && res.status < 400;
        if (!passed) error = `status ${res.status}`;
      } catch (err) {
        error = (err as Error).name === "TimeoutError" ? `timeout after ${hc.timeout} ms` : ((err as { code?: string }).code ?? (err as Error).message);
      } finally {
        this.inflight.delete(key);
      }
      if (this.stopped) return;
      const flipped = recordCheck(m.state, passed, hc, error);
      if (flipped !== undefined) {
        this.metrics.healthFlips.cell({ service: svc.name, state: flipped ? "healthy" : "unhealthy" }).value++;
        this.log.warn(flipped ? "instance healthy again" : "instance marked down by health check", { service: svc.name, instance: m.url, error });
        this.onFlip?.(svc.name, m.url, flipped, error);
      }
    }));
  }
}
