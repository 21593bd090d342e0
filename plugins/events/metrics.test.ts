/** published_total: counted on the publish path without prom-client's per-inc label hashing, exact when read. */
import { expect, test } from "bun:test";
import { createPluginMetrics } from "../../src/core/metrics";
import { createEventMetrics } from "./metrics";

const value = (text: string, type: string) => Number(new RegExp(`tradpal_events_published_total\\{type="${type.replace(".", "\\.")}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);

test("published counts are exact at every read, add up across reads and across a reloaded instance, and stay bounded per type", async () => {
  const pm = createPluginMetrics("events");
  const m = createEventMetrics(pm);
  for (let i = 0; i < 3; i++) m.published("market.data_update");
  m.published("custom.b", 2);
  let text = await pm.registry.metrics();
  expect(value(text, "market.data_update")).toBe(3);
  expect(value(text, "custom.b")).toBe(2);
  m.published("custom.b");
  // A reload provisions a new instance on the same registry: its counts land in the same series.
  const again = createEventMetrics(pm);
  again.published("custom.b", 4);
  text = await pm.registry.metrics();
  expect(value(text, "custom.b")).toBe(7);
  expect(value(text, "market.data_update")).toBe(3);
  // More distinct types than the pending map holds: none lost.
  for (let i = 0; i < 1500; i++) m.published(`custom.t${i}`);
  text = await pm.registry.metrics();
  for (const i of [0, 999, 1000, 1499]) expect(value(text, `custom.t${i}`)).toBe(1);
});
