/** The publish latency cell: scraped exactly as prom-client's own Histogram would expose the same observations. */
import { expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { createPluginMetrics } from "../../src/core/metrics";
import { createEventMetrics } from "./metrics";

const NAME = "tradpal_events_publish_duration_seconds";
const BOUNDS = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** On the bounds, between them, and above the last: every bucket rule is exercised. */
const VALUES = [0, 0.0001, 0.0002, 0.00021, 0.0005, 0.003, 0.01, 0.0999, 0.25, 0.9, 1, 1.5, 30];

test("the cell's exposition is prom-client's Histogram's for the same observations, across a reloaded instance", async () => {
  const pm = createPluginMetrics("events");
  const m = createEventMetrics(pm);
  const reference = new Registry();
  const h = new Histogram({ name: NAME, help: "Time to store a publish request (validation excluded).", buckets: BOUNDS, registers: [reference] });
  for (const v of VALUES) { m.latency.observe(v); h.observe(v); }
  // A reload provisions a new instance on the same registry: it adds to the same series.
  const again = createEventMetrics(pm);
  for (const v of VALUES.slice(0, 5)) { again.latency.observe(v); h.observe(v); }
  const ours = (await pm.registry.getSingleMetricAsString(NAME)).trim();
  expect(ours).toBe((await reference.getSingleMetricAsString(NAME)).trim());
  expect(ours).toContain(`${NAME}_count 18`);
  expect(JSON.stringify(await pm.registry.getMetricsAsJSON())).toContain(NAME);
  pm.registry.resetMetrics();
  h.reset();
  expect((await pm.registry.getSingleMetricAsString(NAME)).trim()).toBe((await reference.getSingleMetricAsString(NAME)).trim());
  m.latency.observe(0.003);
  h.observe(0.003);
  expect((await pm.registry.getSingleMetricAsString(NAME)).trim()).toBe((await reference.getSingleMetricAsString(NAME)).trim());
});

test("a fresh cell shows the zero series, as a fresh prom-client Histogram does", async () => {
  const pm = createPluginMetrics("events");
  createEventMetrics(pm);
  const reference = new Registry();
  new Histogram({ name: NAME, help: "Time to store a publish request (validation excluded).", buckets: BOUNDS, registers: [reference] });
  expect((await pm.registry.getSingleMetricAsString(NAME)).trim()).toBe((await reference.getSingleMetricAsString(NAME)).trim());
});
