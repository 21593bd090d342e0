/**
 * Every metric an alert rule (deploy/prometheus/alerts.yml) or a Grafana dashboard (deploy/grafana/*.json)
 * queries exists in the /metrics of a platform started from the shipped config.yaml. A metric renamed in
 * code makes this fail, naming the rule or panel and the name. The extractor is checked on known input
 * first, and once with a renamed metric, so a green run means the comparison really happened.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startPlatform, type Platform } from "./support/doctest/platform";
import { DASHBOARD_DIR, dashboardExpressions, dashboardFiles, exposedNames, missingNames, promqlMetricNames, ROOT, RULES_FILE, ruleExpressions, shippedExpressions } from "./support/observability";

const PORTS = { gateway: 8000, security: 8009, events: 8011, breaker: 8012, falco: 8013 };

describe("the PromQL name extractor", () => {
  test("finds metrics, skips functions, label lists, strings, ranges and Grafana variables", () => {
    const names = promqlMetricNames(
      'histogram_quantile(0.99, sum by (service, le) (rate(tradpal_gateway_upstream_latency_seconds_bucket{instance=~"$instance",service="up"}[$__rate_interval]))) > 2 ' +
      "and on (job) tradpal_host_plugin_up offset 5m unless up{job=\"tradpal\"} - time() < 7 * 86400 or vector(1e3)",
    );
    expect([...names].sort()).toEqual(["tradpal_gateway_upstream_latency_seconds_bucket", "tradpal_host_plugin_up", "up"]);
  });
  test("a Grafana label_values() variable counts its metric only", () => {
    const exprs = dashboardExpressions({ templating: { list: [{ type: "query", name: "i", query: { query: "label_values(tradpal_breaker_state, instance)" } }] } });
    expect(exprs).toEqual([{ where: "dashboard: variable i", expr: "tradpal_breaker_state" }]);
  });
});

describe("shipped rules and dashboards against a live platform (shipped config.yaml)", () => {
  let platform: Platform;
  const exposed = new Set<string>();

  beforeAll(async () => {
    platform = await startPlatform(ROOT);
    for (const [plugin, port] of Object.entries(PORTS)) {
      const res = await fetch(platform.mapPorts(`http://127.0.0.1:${port}/metrics`), { signal: AbortSignal.timeout(5000) });
      expect(res.status, `${plugin} /metrics`).toBe(200);
      for (const n of exposedNames(await res.text())) exposed.add(n);
    }
  });
  afterAll(async () => { await platform?.stop(); });

  test("every plugin exports its tradpal_<plugin>_* metrics", () => {
    for (const plugin of Object.keys(PORTS)) expect([...exposed].some((n) => n.startsWith(`tradpal_${plugin}_`)), plugin).toBe(true);
  });

  test("the rules and every dashboard query real metrics, and every dashboard has queries", () => {
    const exprs = shippedExpressions();
    expect(ruleExpressions(readFileSync(RULES_FILE, "utf8")).length).toBeGreaterThanOrEqual(20);
    expect(dashboardFiles()).toEqual(["breaker.json", "events.json", "falco.json", "gateway.json", "platform.json", "security.json"]);
    for (const f of dashboardFiles()) {
      const d = JSON.parse(readFileSync(join(DASHBOARD_DIR, f), "utf8"));
      expect(dashboardExpressions(d, f).length, f).toBeGreaterThan(3);
    }
    expect(missingNames(exprs, exposed)).toEqual([]);
  });

  test("a renamed metric is reported with the rule that names it", () => {
    const renamed = ruleExpressions(readFileSync(RULES_FILE, "utf8").replace('tradpal_breaker_state{state="open"}', 'tradpal_breaker_status{state="open"}'));
    expect(missingNames(renamed, exposed)).toEqual(["tradpal.breaker/TradPalCircuitBreakerOpen: tradpal_breaker_status"]);
  });

  test("every tradpal_* metric the platform exports is on a dashboard", () => {
    const used = new Set<string>();
    for (const { expr } of shippedExpressions()) for (const n of promqlMetricNames(expr)) used.add(n.replace(/_(bucket|sum|count)$/, ""));
    const families = [...exposed].filter((n) => n.startsWith("tradpal_") && !/_(bucket|sum|count)$/.test(n));
    // A new metric fails here until a panel shows it: add one to the plugin's deploy/grafana/<plugin>.json.
    expect(families.filter((n) => !used.has(n)), "exported but on no dashboard (deploy/grafana/)").toEqual([]);
  });
});
