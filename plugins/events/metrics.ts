/**
 * The plugin's metrics (tradpal_events_*) and the short-window rates shown by GET /events/stats.
 * Labelled children are cached per type so the publish path does no label hashing per event.
 */
import type { Counter } from "prom-client";
import type { PluginMetrics } from "../../src/core/metrics";
import { CellHistogram, registerCell } from "../../src/core/metric-cells";

/** Events per second over the last `windowS` seconds, from per-second buckets. */
export class RateMeter {
  private readonly buckets: Float64Array;
  private lastSecond = 0;
  constructor(private readonly windowS = 10) {
    this.buckets = new Float64Array(windowS);
  }
  private roll(now: number) {
    const sec = Math.floor(now / 1000);
    if (sec === this.lastSecond) return;
    const gap = Math.min(sec - this.lastSecond, this.windowS);
    for (let i = 1; i <= gap; i++) this.buckets[(this.lastSecond + i) % this.windowS] = 0;
    this.lastSecond = sec;
  }
  add(n: number, now = Date.now()) {
    this.roll(now);
    this.buckets[this.lastSecond % this.windowS] += n;
  }
  perSecond(now = Date.now()): number {
    this.roll(now);
    let sum = 0;
    for (let i = 0; i < this.windowS; i++) if (i !== this.lastSecond % this.windowS) sum += this.buckets[i];
    return sum / (this.windowS - 1);
  }
}

type Child = { inc(n?: number): void };

function byLabel(counter: Counter<string>, label: string) {
  const cache = new Map<string, Child>();
  return (value: string, n = 1) => {
    let c = cache.get(value);
    if (!c) {
      c = counter.labels({ [label]: value });
      if (cache.size < 1000) cache.set(value, c); // bounded: custom.* types are open-ended
    }
    c.inc(n);
  };
}

/**
 * Counts not yet handed to a counter, per counter object (so a reloaded instance, which gets the same
 * counter back, adds to the same map). prom-client hashes the labels on every inc(), a cached child
 * included: on the publish path (one inc per event) a Map update is all that is paid; the counter takes
 * the sums when it is read (a scrape runs its collect()).
 */
const pendingOf = new WeakMap<object, Map<string, number>>();
const PENDING_MAX = 1000;

function drain(counter: Counter<string>, label: string) {
  const p = pendingOf.get(counter);
  if (!p || p.size === 0) return;
  for (const [value, n] of p) counter.inc({ [label]: value }, n);
  p.clear();
}

function lazyByLabel(counter: Counter<string>, label: string) {
  let pending = pendingOf.get(counter);
  if (!pending) pendingOf.set(counter, (pending = new Map()));
  const p = pending;
  return (value: string, n = 1) => {
    const had = p.get(value);
    if (had === undefined && p.size >= PENDING_MAX) drain(counter, label); // bounded: custom.* types are open-ended
    p.set(value, (had ?? 0) + n);
  };
}

export function createEventMetrics(m: PluginMetrics) {
  const published = m.counter({ name: "published_total", help: "Events stored, by type.", labelNames: ["type"], collect() { drain(this as Counter<string>, "type"); } });
  // Delivered, like published, once per event: counted in a map, handed over when read.
  const delivered = m.counter({ name: "delivered_total", help: "Events delivered to subscribers (first delivery), by type.", labelNames: ["type"], collect() { drain(this as Counter<string>, "type"); } });
  const redelivered = m.counter({ name: "redelivered_total", help: "Events delivered again after a visibility timeout or reconnect, by type.", labelNames: ["type"], collect() { drain(this as Counter<string>, "type"); } });
  const deadLettered = m.counter({ name: "dead_lettered_total", help: "Events moved to the dead-letter stream after max_deliveries, by type.", labelNames: ["type"] });
  // Acked, once per ack request (a subscriber's every few ms): counted in a map as well, handed over when read.
  const acked = m.counter({ name: "acked_total", help: "Acknowledged deliveries, by consumer group.", labelNames: ["group"], collect() { drain(this as Counter<string>, "group"); } });
  const duplicates = m.counter({ name: "duplicates_total", help: "Publishes answered from the dedup window (Idempotency-Key or event id) without storing." });
  const rejected = m.counter({ name: "rejected_total", help: "Publishes refused, by reason.", labelNames: ["reason"] });
  const trimmed = m.counter({ name: "trimmed_total", help: "Events removed by trimming (max_len / max_age) in the embedded store." });
  // Named as the plugin's other metrics are (the facade's prefix, read off a metric it made).
  const prefix = (published as unknown as { name: string }).name.slice(0, -"published_total".length);
  // A histogram of plain cells (src/core/metric-cells.ts): prom-client's observe() hashes labels and makes a string key per call.
  const latency = registerCell(m.registry, new CellHistogram(`${prefix}publish_duration_seconds`, "Time to store a publish request (validation excluded).", [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]));
  const subscribers = m.gauge({ name: "subscribers", help: "Open SSE subscriptions." });
  return {
    published: lazyByLabel(published, "type"),
    delivered: lazyByLabel(delivered, "type"),
    redelivered: lazyByLabel(redelivered, "type"),
    deadLettered: byLabel(deadLettered, "type"),
    acked: lazyByLabel(acked, "group"),
    duplicates,
    rejected: byLabel(rejected, "reason"),
    trimmed,
    latency,
    latencyCell: latency.cell({}),
    subscribers,
    publishRate: new RateMeter(),
    deliverRate: new RateMeter(),
  };
}

export type EventMetrics = ReturnType<typeof createEventMetrics>;
