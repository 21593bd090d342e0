/** A histogram of cells is scraped exactly as prom-client's own Histogram exposes the same observations. */
import { expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { CellHistogram, registerCell } from "./metric-cells";

const NAME = "tradpal_test_duration_seconds";
const HELP = "A test histogram.";
const BOUNDS = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** On the bounds, between them, and above the last: every bucket rule is exercised. */
const VALUES = [0, 0.0001, 0.0002, 0.00021, 0.0005, 0.003, 0.01, 0.0999, 0.25, 0.9, 1, 1.5, 30];

const text = async (r: Registry) => (await r.getSingleMetricAsString(NAME)).trim();

test("an unlabelled cell's exposition is prom-client's for the same observations: fresh, re-registered (a reload), reset, observed again", async () => {
  const ours = new Registry();
  const reference = new Registry();
  const h = new Histogram({ name: NAME, help: HELP, buckets: BOUNDS, registers: [reference] });
  const first = registerCell(ours, new CellHistogram(NAME, HELP, BOUNDS));
  const cell = first.cell({});
  expect(await text(ours)).toBe(await text(reference)); // a fresh one shows its zero series
  for (const v of VALUES) { first.observe(cell, v); h.observe(v); }
  // A reloaded plugin instance registers again on the same registry: it adds to the same series.
  const again = registerCell(ours, new CellHistogram(NAME, HELP, BOUNDS));
  expect(again).toBe(first);
  for (const v of VALUES.slice(0, 5)) { again.observe(again.cell({}), v); h.observe(v); }
  expect(await text(ours)).toBe(await text(reference));
  expect(await text(ours)).toContain(`${NAME}_count 18`);
  ours.resetMetrics();
  h.reset();
  expect(await text(ours)).toBe(await text(reference));
  first.observe(cell, 0.003);
  h.observe(0.003);
  expect(await text(ours)).toBe(await text(reference));
});

test("labelled cells render as prom-client's labelled histogram", async () => {
  const ours = new Registry();
  const reference = new Registry();
  const h = new Histogram({ name: NAME, help: HELP, buckets: BOUNDS, labelNames: ["service"], registers: [reference] });
  const m = registerCell(ours, new CellHistogram(NAME, HELP, BOUNDS));
  for (const [i, v] of VALUES.entries()) {
    const service = i % 2 === 0 ? "a" : "b";
    m.observe(m.cell({ service }), v);
    h.observe({ service }, v);
  }
  expect(await text(ours)).toBe(await text(reference));
});
