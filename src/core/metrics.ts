/**
 * Prometheus metrics through prom-client. The host owns one registry for process and host metrics;
 * each plugin gets its own registry (kept across reloads) behind a get-or-create facade, so a
 * re-provisioned instance finds its counters where the old one left them.
 */
import client, { Registry, Counter, Gauge, Histogram, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from "prom-client";

export const METRIC_PREFIX = "tradpal_";

/** prom-client's defaults include gauges named *_total, which promtool rejects; we drop them. */
const NONCONFORMING_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export function createHostRegistry(opts: { defaultMetrics: boolean }): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics) {
    client.collectDefaultMetrics({ register: registry });
    for (const name of NONCONFORMING_DEFAULTS) registry.removeSingleMetric(name);
  }
  return registry;
}

type Cfg<C> = Omit<C, "registers" | "name"> & { name: string };
type GaugeCollect = (gauge: Gauge<string>) => void | Promise<void>;

export interface PluginMetrics {
  readonly registry: Registry;
  /** Full name = `tradpal_<plugin>_<name>`. Returns the existing metric when already registered. */
  counter<L extends string = string>(cfg: Cfg<CounterConfiguration<L>>): Counter<L>;
  /** A `collect` callback is re-pointed on every call, so the newest instance's state is what gets scraped. */
  gauge<L extends string = string>(cfg: Cfg<Omit<GaugeConfiguration<L>, "collect">> & { collect?: GaugeCollect }): Gauge<L>;
  histogram<L extends string = string>(cfg: Cfg<HistogramConfiguration<L>>): Histogram<L>;
}

export function createPluginMetrics(pluginId: string, registry: Registry = new Registry()): PluginMetrics {
  const prefix = `${METRIC_PREFIX}${pluginId}_`;
  const collectors = new Map<string, GaugeCollect | undefined>();
  const fullName = (name: string) => (name.startsWith(prefix) ? name : prefix + name);

  return {
    registry,
    counter(cfg) {
      const name = fullName(cfg.name);
      const existing = registry.getSingleMetric(name);
      if (existing) return existing as any;
      return new Counter({ ...cfg, name, registers: [registry] } as CounterConfiguration<string>) as any;
    },
    gauge(cfg) {
      const name = fullName(cfg.name);
      collectors.set(name, cfg.collect);
      const existing = registry.getSingleMetric(name);
      if (existing) return existing as any;
      const { collect: _ignored, ...rest } = cfg;
      return new Gauge({
        ...rest,
        name,
        registers: [registry],
        collect() {
          const fn = collectors.get(name);
          return fn ? fn(this as Gauge<string>) : undefined;
        },
      } as GaugeConfiguration<string>) as any;
    },
    histogram(cfg) {
      const name = fullName(cfg.name);
      const existing = registry.getSingleMetric(name);
      if (existing) return existing as any;
      return new Histogram({ ...cfg, name, registers: [registry] } as HistogramConfiguration<string>) as any;
    },
  };
}

/** Prometheus text exposition of several registries (names are disjoint by prefix). */
export async function renderMetrics(registries: Registry[]): Promise<string> {
  const parts = await Promise.all(registries.map((r) => r.metrics()));
  return parts.filter((p) => p.length > 0).join("\n");
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
