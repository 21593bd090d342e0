/**
 * The host asks every plugin it runs for its health on an interval (host.health_interval, 30 s as the seed
 * does), exports the answer as tradpal_host_plugin_healthy{plugin}, and publishes a service.health_changed
 * platform event when a plugin's answer flips (the events plugin stores it; other processes hear it over
 * the bus bridge). Upstream instances are the gateway's to watch (its active checks publish the same event).
 */
import type { Bus } from "../core/bus";
import type { Gauge } from "prom-client";
import type { Slot } from "./slot";

export class HealthPoller {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly last = new Map<string, boolean>();
  private running = false;

  constructor(private readonly o: { intervalMs: number; slots: () => ReadonlyMap<string, Slot>; bus: Bus; gauge: Gauge<"plugin"> }) {}

  start(): void {
    if (this.o.intervalMs <= 0) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.o.intervalMs);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void { if (this.timer) clearInterval(this.timer); this.timer = undefined; }

  /** One round (exported for tests): a plugin whose check is still running from the last round is skipped. */
  async poll(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const [id, slot] of this.o.slots()) {
        if (slot.closing) continue;
        const res = await slot.health();
        const body = (await res.json().catch(() => ({}))) as { reason?: string };
        const ok = res.status === 200;
        this.o.gauge.set({ plugin: id }, ok ? 1 : 0);
        const before = this.last.get(id);
        this.last.set(id, ok);
        if (before === undefined || before === ok) continue;
        this.o.bus.emit("platform.event", { type: "service.health_changed", source: "host", payload: { service: id, plugin: id, status: ok ? "healthy" : "unhealthy", ...(body.reason ? { reason: body.reason } : {}) } });
      }
    } finally {
      this.running = false;
    }
  }
}
