/**
 * Metric names in the observability files vs. what a live platform exports. Used by
 * test/observability-*.test.ts: every name an alert rule or a Grafana panel queries must be in a live
 * scrape, so renaming a metric in code fails a test instead of silently blanking a dashboard.
 *
 * PromQL is not parsed fully: strings, label matchers, ranges and Grafana variables are cut out, then an
 * identifier not followed by "(" is a metric name unless it is a keyword or sits in a by/without/on/
 * ignoring/group_* label list. Enough for the expressions we write (checked against itself below).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const RULES_FILE = join(ROOT, "deploy/prometheus/alerts.yml");
export const RULE_TESTS_FILE = join(ROOT, "deploy/prometheus/alerts.test.yml");
export const DASHBOARD_DIR = join(ROOT, "deploy/grafana");

/** Series Prometheus makes itself (not in any /metrics): the scrape's own `up`. */
export const PROMETHEUS_BUILTIN = new Set(["up"]);

const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"]);

/** Metric names referenced by one PromQL expression. */
export function promqlMetricNames(expr: string): Set<string> {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals (label values, label_replace args)
    .replace(/\$\{[^}]*\}|\$\w+/g, "1") // Grafana variables: $service, ${__rate_interval}
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // label lists
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2]) continue; // a function call
    if (KEYWORDS.has(m[1].toLowerCase())) continue;
    names.add(m[1]);
  }
  return names;
}

/** Every alert/record expression in a rules file. */
export function ruleExpressions(yamlText: string): { where: string; expr: string }[] {
  const doc = Bun.YAML.parse(yamlText) as { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `${g.name}/${r.alert ?? r.record}`, expr: String(r.expr) })));
}

/**
 * Every PromQL query of a Grafana dashboard: panel targets (nested rows too) and query variables.
 * label_values(metric, label) of a variable is Grafana's, not PromQL: only its first argument counts.
 */
export function dashboardExpressions(json: any, file = "dashboard"): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const panels = (list: any[] | undefined) => {
    for (const p of list ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${file}: ${p.title}`, expr: t.expr });
      panels(p.panels);
    }
  };
  panels(json.panels);
  for (const v of json.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    if (!q) continue;
    const lv = /^label_values\(\s*(.*?)\s*,\s*\w+\s*\)$/.exec(q);
    out.push({ where: `${file}: variable ${v.name}`, expr: lv ? lv[1] : q });
  }
  return out;
}

export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith(".json")).sort();
}

/** Every expression the shipped rules and dashboards hold. */
export function shippedExpressions(): { where: string; expr: string }[] {
  const out = ruleExpressions(readFileSync(RULES_FILE, "utf8"));
  for (const f of dashboardFiles()) out.push(...dashboardExpressions(JSON.parse(readFileSync(join(DASHBOARD_DIR, f), "utf8")), f));
  return out;
}

/**
 * Metric names a /metrics text exposes: sample names, plus the series names a `# TYPE` line promises
 * (a histogram whose children have not been created yet still has its _bucket/_sum/_count names).
 */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split("\n")) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      names.add(type[1]);
      if (type[2] === "histogram") for (const sfx of ["_bucket", "_sum", "_count"]) names.add(type[1] + sfx);
      if (type[2] === "summary") for (const sfx of ["_sum", "_count"]) names.add(type[1] + sfx);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]);
  }
  return names;
}

/** "where: name" for every referenced name that is neither exposed nor Prometheus's own. */
export function missingNames(exprs: { where: string; expr: string }[], exposed: Set<string>): string[] {
  const missing: string[] = [];
  for (const { where, expr } of exprs) {
    for (const name of promqlMetricNames(expr)) if (!exposed.has(name) && !PROMETHEUS_BUILTIN.has(name)) missing.push(`${where}: ${name}`);
  }
  return missing;
}
