/**
 * Gateway metrics. The per-request ones (requests by service/route/status class, upstream latency)
 * are plain number cells precomputed per route (src/core/metric-cells.ts): the hot path does
 * `cell.value++`, no label hashing. Metric objects are get-or-create by name, so they survive reloads.
 */
import { METRIC_PREFIX, type PluginMetrics } from "../../src/core/metrics";
import { CellCounter, CellHistogram, registerCell } from "../../src/core/metric-cells";

export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

export interface GatewayMetrics {
  requests: CellCounter;
  latency: CellHistogram;
  retries: CellCounter;
  ejections: CellCounter;
  healthFlips: CellCounter;
}

export function createGatewayMetrics(metrics: PluginMetrics, pluginId: string): GatewayMetrics {
  const p = `${METRIC_PREFIX}${pluginId}_`;
  const r = metrics.registry;
  return {
    requests: registerCell(r, new CellCounter(`${p}requests_total`, "Requests answered by the gateway, by service, route and status class.")),
    latency: registerCell(r, new CellHistogram(`${p}upstream_latency_seconds`, "Time to the upstream's response headers, by service.", [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])),
    retries: registerCell(r, new CellCounter(`${p}retries_total`, "Upstream retries by service and outcome (sent, budget_exhausted).")),
    ejections: registerCell(r, new CellCounter(`${p}ejections_total`, "Instances ejected by passive outlier detection, by service.")),
    healthFlips: registerCell(r, new CellCounter(`${p}health_transitions_total`, "Active health check verdict changes, by service and new state.")),
  };
}

/** Status → index into STATUS_CLASSES. */
export function statusClass(status: number): number {
  const c = Math.floor(status / 100) - 1;
  return c < 0 ? 0 : c > 4 ? 4 : c;
}
