/**
 * deploy/prometheus with Debian's promtool: the rules and the example Prometheus config load, every rule
 * has a runbook line, a severity and a unit test in alerts.test.yml, and those unit tests pass — and fail
 * when a rule's metric is renamed (run once on a broken copy, so a pass is not a vacuous one).
 */
import { expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, RULE_TESTS_FILE, RULES_FILE } from "./support/observability";

const PROMTOOL = Bun.which("promtool");
const DIR = join(ROOT, "deploy/prometheus");

async function promtool(args: string[], cwd = DIR): Promise<{ code: number; out: string }> {
  if (!PROMTOOL) throw new Error("promtool is not installed (apt-get install prometheus; bun run test installs it)");
  const p = Bun.spawn([PROMTOOL, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => p.kill(), 30_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(killer);
  return { code, out: out + err };
}

type Rule = { alert: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> };
const rules = (Bun.YAML.parse(readFileSync(RULES_FILE, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

test("promtool check rules / check config", async () => {
  const r = await promtool(["check", "rules", "alerts.yml"]);
  expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
  expect(r.code).toBe(0);
  const c = await promtool(["check", "config", "prometheus.yml"]);
  expect(c.code, c.out).toBe(0);
});

test("every rule: a severity, a summary, a runbook line, and a unit test", () => {
  const tests = Bun.YAML.parse(readFileSync(RULE_TESTS_FILE, "utf8")) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const tested = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  for (const r of rules) {
    expect(["critical", "warning"], r.alert).toContain(r.labels?.severity ?? "");
    expect(r.annotations?.summary, r.alert).toBeTruthy();
    expect(r.annotations?.runbook, r.alert).toBeTruthy();
    expect(tested.has(r.alert), `${r.alert} has a firing unit test`).toBe(true);
  }
  // The critical conditions issue 18 names, each covered by a rule.
  for (const name of ["TradPalCircuitBreakerOpen", "TradPalGatewayHigh5xxRatio", "TradPalGatewayHighP99Latency", "TradPalRateLimitRefusalSurge",
    "TradPalUpstreamEjected", "TradPalNoHealthyInstance", "TradPalEventsStoreDown", "TradPalEventsConsumerLag", "TradPalEventsDeadLettersGrowing",
    "TradPalCACertificateExpiringSoon", "TradPalSecurityOperationErrors", "TradPalConfigReloadFailed", "TradPalFalcoCriticalAlert",
    "TradPalServiceQuarantined", "TradPalPluginDown"]) expect(rules.map((r) => r.alert)).toContain(name);
});

test("promtool test rules: every unit test passes", async () => {
  const r = await promtool(["test", "rules", "alerts.test.yml"]);
  expect(r.out).toContain("SUCCESS");
  expect(r.code, r.out).toBe(0);
});

test("promtool test rules fails on a rule whose metric was renamed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tradpal-rules-"));
  try {
    writeFileSync(join(dir, "alerts.yml"), readFileSync(RULES_FILE, "utf8").replace('tradpal_breaker_state{state="open"}', 'tradpal_breaker_status{state="open"}'));
    copyFileSync(RULE_TESTS_FILE, join(dir, "alerts.test.yml"));
    const r = await promtool(["test", "rules", "alerts.test.yml"], dir);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("alertname: TradPalCircuitBreakerOpen");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
