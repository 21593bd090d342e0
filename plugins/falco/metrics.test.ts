import { test, expect } from "bun:test";
import { createPluginMetrics } from "../../src/core/metrics";
import { FalcoMetrics } from "./metrics";

test("per-alert counts reach the counters at scrape; rules beyond max_rule_labels count as rule=\"other\"", async () => {
  const pm = createPluginMetrics("falco");
  const m = new FalcoMetrics(pm, 2, { openGroups: () => 0, quarantined: () => 0, lanes: () => [] });
  for (const r of ["a", "a", "b", "c", "d"]) m.alert(r, "warning");
  m.alert("a", "error");
  m.fold(); m.request("accepted"); m.request("FALCO_ERR_PARSE");
  const text = await pm.registry.metrics();
  expect(text).toContain('tradpal_falco_alerts_received_total{rule="a",priority="warning"} 2');
  expect(text).toContain('tradpal_falco_alerts_received_total{rule="a",priority="error"} 1');
  expect(text).toContain('tradpal_falco_alerts_received_total{rule="other",priority="warning"} 2');
  expect(text).toContain("tradpal_falco_alerts_folded_total 1");
  expect(text).toContain('tradpal_falco_intake_requests_total{result="accepted"} 1');
  m.alert("a", "warning");
  expect(await pm.registry.metrics()).toContain('tradpal_falco_alerts_received_total{rule="a",priority="warning"} 3');
});
