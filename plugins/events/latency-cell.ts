/**
 * The publish latency histogram (tradpal_events_publish_duration_seconds) as a cell of its own: observe()
 * is a bucket search and three additions. prom-client's Histogram.observe hashes the (empty) label set
 * and turns the bucket's bound into a string key on every call (~0.4–0.9 µs, ~2 % of the server's
 * samples per single publish); prom-client has no bulk observe to defer to. The cell is registered on
 * the plugin's registry as a custom metric: the registry reads it through get(), which returns what a
 * prom-client Histogram without labels returns, so the exposition (and worker aggregation) is the same.
 */
import type { Registry } from "prom-client";

export class LatencyCell {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  /** prom-client shows a fresh histogram's zero series, and none after reset() until the next observation. */
  private shown = true;

  constructor(readonly name: string, readonly help: string, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Counted in the first bucket whose bound is >= v (above every bound: only in +Inf), as prom-client does. */
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    if (i < b.length) this.counts[i]++;
    this.sum += v;
    this.count++;
    this.shown = true;
  }

  get() {
    const bucket = `${this.name}_bucket`;
    const values: { value: number; metricName: string; labels: Record<string, string | number>; exemplar?: null }[] = [];
    if (!this.shown) return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i];
      values.push({ value: acc, metricName: bucket, exemplar: null, labels: { le: this.bounds[i] } });
    }
    values.push({ value: this.count, metricName: bucket, exemplar: null, labels: { le: "+Inf" } });
    values.push({ value: this.sum, metricName: `${this.name}_sum`, labels: {} });
    values.push({ value: this.count, metricName: `${this.name}_count`, labels: {} });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.shown = false;
  }
}

/** The cell named `name` in `registry`, made on first use: a reloaded plugin instance keeps adding to the same one. */
export function latencyCell(registry: Registry, name: string, help: string, bounds: readonly number[]): LatencyCell {
  const existing = registry.getSingleMetric(name) as unknown;
  if (existing instanceof LatencyCell) return existing;
  const cell = new LatencyCell(name, help, bounds);
  registry.registerMetric(cell as unknown as Parameters<Registry["registerMetric"]>[0]);
  return cell;
}
