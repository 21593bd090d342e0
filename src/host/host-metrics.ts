/** The host's own metric families (reloads, plugins up/healthy, requests in flight), on the host registry. */
import type { Counter, Gauge, Registry } from "prom-client";
import { createPluginMetrics } from "../core/metrics";
import { tunnelStats } from "./wire/tunnel";

export interface HostMetrics {
  reloads: Counter<"result">;
  lastReloadOk: Gauge;
  lastReloadTime: Gauge;
  pluginHealthy: Gauge<"plugin">;
}

/** `inflight()`: every hosted plugin with its requests in flight, read at scrape time. */
export function createHostMetrics(registry: Registry, inflight: () => Iterable<[string, number]>): HostMetrics {
  const m = createPluginMetrics("host", registry);
  const reloads = m.counter({ name: "config_reloads_total", help: "Config reloads by result (success, failure).", labelNames: ["result"] as const });
  reloads.inc({ result: "success" }, 0);
  reloads.inc({ result: "failure" }, 0);
  const lastReloadOk = m.gauge({ name: "config_last_reload_successful", help: "1 when the last config reload applied, 0 when it was refused." });
  lastReloadOk.set(1);
  const lastReloadTime = m.gauge({ name: "config_last_reload_success_timestamp_seconds", help: "When the running config was applied." });
  m.gauge({
    name: "plugin_up",
    help: "1 for every plugin this process hosts.",
    labelNames: ["plugin"] as const,
    collect: (g) => { g.reset(); for (const [id] of inflight()) g.set({ plugin: id }, 1); },
  });
  const pluginHealthy = m.gauge({ name: "plugin_healthy", help: "1 when the plugin's last polled /health was ok (host.health_interval), 0 when not.", labelNames: ["plugin"] as const });
  m.gauge({
    name: "requests_in_flight",
    help: "Requests being handled, by plugin.",
    labelNames: ["plugin"] as const,
    collect: (g) => { g.reset(); for (const [id, n] of inflight()) g.set({ plugin: id }, n); },
  });
  m.counter({
    name: "wire_tunnel_requests_total",
    help: "Requests a wire port's front passed through its tunnel to the inner Bun.serve (parsed a second time there).",
    collect() { this.reset(); this.inc(tunnelStats.requests); },
  });
  return { reloads, lastReloadOk, lastReloadTime, pluginHealthy };
}
