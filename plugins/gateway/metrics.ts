/**
 * Gateway metrics. The per-request ones (requests by service/route/status class, upstream latency)
 * are plain number cells precomputed per route, registered in the plugin's prom-client registry as
 * custom metric objects: the hot path does `cell.value++`, no label hashing. Rare events (ejections,
 * health flips) use prom-client directly. Metric objects are get-or-create by name, so they survive reloads.
 */
import type { Registry } from "prom-client";
import { METRIC_PREFIX, type PluginMetrics } from "../../src/core/metrics";

type Labels = Record<string, string>;

interface CustomMetric {
  name: string;
  help: string;
  type: "counter" | "histogram";
  get(): Promise<{ name: string; help: string; type: string; values: { labels: Labels; value: number; metricName?: string }[]; aggregator: string }>;
  reset(): void;
}

export interface CounterCell { value: number }

/** A labelled counter whose children are plain cells. */
export class CellCounter implements CustomMetric {
  readonly type = "counter" as const;
  private readonly cells = new Map<string, { labels: Labels; cell: CounterCell }>();
  constructor(readonly name: string, readonly help: string) {}
  cell(labels: Labels): CounterCell {
    const key = JSON.stringify(labels);
    let e = this.cells.get(key);
    if (!e) this.cells.set(key, (e = { labels, cell: { value: 0 } }));
    return e.cell;
  }
  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values: [...this.cells.values()].map((e) => ({ labels: e.labels, value: e.cell.value })) };
  }
  reset() { for (const e of this.cells.values()) e.cell.value = 0; }
}

export interface HistogramCell { counts: Float64Array; sum: number; count: number }

/** A labelled histogram whose children are plain bucket arrays (cumulative only when rendered). */
export class CellHistogram implements CustomMetric {
  readonly type = "histogram" as const;
  private readonly cells = new Map<string, { labels: Labels; cell: HistogramCell }>();
  constructor(readonly name: string, readonly help: string, readonly bounds: readonly number[]) {}
  cell(labels: Labels): HistogramCell {
    const key = JSON.stringify(labels);
    let e = this.cells.get(key);
    if (!e) this.cells.set(key, (e = { labels, cell: { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 } }));
    return e.cell;
  }
  observe(cell: HistogramCell, v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    cell.counts[i]++;
    cell.sum += v;
    cell.count++;
  }
  async get() {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    for (const { labels, cell } of this.cells.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += cell.counts[i];
        values.push({ labels: { ...labels, le: String(this.bounds[i]) }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...labels, le: "+Inf" }, value: cell.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
  }
  reset() { for (const e of this.cells.values()) { e.cell.counts.fill(0); e.cell.sum = 0; e.cell.count = 0; } }
}

function getOrRegister<T extends CustomMetric>(registry: Registry, metric: T): T {
  const existing = registry.getSingleMetric(metric.name) as unknown as T | undefined;
  if (existing) return existing;
  registry.registerMetric(metric as any);
  return metric;
}

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
    requests: getOrRegister(r, new CellCounter(`${p}requests_total`, "Requests answered by the gateway, by service, route and status class.")),
    latency: getOrRegister(r, new CellHistogram(`${p}upstream_latency_seconds`, "Time to the upstream's response headers, by service.", [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])),
    retries: getOrRegister(r, new CellCounter(`${p}retries_total`, "Upstream retries by service and outcome (sent, budget_exhausted).")),
    ejections: getOrRegister(r, new CellCounter(`${p}ejections_total`, "Instances ejected by passive outlier detection, by service.")),
    healthFlips: getOrRegister(r, new CellCounter(`${p}health_transitions_total`, "Active health check verdict changes, by service and new state.")),
  };
}

/** Status → index into STATUS_CLASSES. */
export function statusClass(status: number): number {
  const c = Math.floor(status / 100) - 1;
  return c < 0 ? 0 : c > 4 ? 4 : c;
}
