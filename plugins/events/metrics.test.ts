/** published_total, delivered_total, redelivered_total (by type), acked_total (by group): counted without prom-client's per-inc label hashing, exact when read. */
import { expect, test } from "bun:test";
import { createPluginMetrics } from "../../src/core/metrics";
import { createEventMetrics } from "./metrics";

for (const [counter, label] of [["published", "type"], ["delivered", "type"], ["redelivered", "type"], ["acked", "group"]] as const)
test(`${counter} counts are exact at every read, add up across reads and across a reloaded instance, and stay bounded per ${label}`, async () => {
  const value = (text: string, type: string) => Number(new RegExp(`tradpal_events_${counter}_total\\{${label}="${type.replace(".", "\\.")}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
  const pm = createPluginMetrics("events");
  const m = createEventMetrics(pm);
  for (let i = 0; i < 3; i++) m[counter]("market.data_update");
  m[counter]("custom.b", 2);
  let text = await pm.registry.metrics();
  expect(value(text, "market.data_update")).toBe(3);
  expect(value(text, "custom.b")).toBe(2);
  m[counter]("custom.b");
  // A reload provisions a new instance on the same registry: its counts land in the same series.
  const again = createEventMetrics(pm);
  again[counter]("custom.b", 4);
  text = await pm.registry.metrics();
  expect(value(text, "custom.b")).toBe(7);
  expect(value(text, "market.data_update")).toBe(3);
  // More distinct types than the pending map holds: none lost.
  for (let i = 0; i < 1500; i++) m[counter](`custom.t${i}`);
  text = await pm.registry.metrics();
  for (const i of [0, 999, 1000, 1499]) expect(value(text, `custom.t${i}`)).toBe(1);
});
