/**
 * End to end with the real servers (Debian's `prometheus` and `prometheus-alertmanager`, loopback only):
 * a platform from the shipped config.yaml (its trading instances pointed at a backend that answers 500,
 * auth off for that route) is scraped every second by Prometheus with deploy/prometheus/alerts.yml loaded.
 * The test drives the trading breaker open and a config reload to fail, and sees both alerts firing in
 * Prometheus's API and arriving at Alertmanager. Every dashboard query is evaluated by the same Prometheus
 * (Grafana's $variables filled in), so a query that does not parse fails here.
 *
 * The only change to the rules: `for:` durations shortened to 1s, so the wait stays bounded (their real
 * durations are covered by the promtool unit tests).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./support/harness";
import { startPlatform, type Platform } from "./support/doctest/platform";
import { ROOT, RULES_FILE, shippedExpressions } from "./support/observability";

const PROMETHEUS = Bun.which("prometheus");
const ALERTMANAGER = Bun.which("prometheus-alertmanager") ?? Bun.which("alertmanager");
const PLUGINS = { gateway: 8000, security: 8009, events: 8011, breaker: 8012, falco: 8013 };

let platform: Platform;
let dir = "";
let promUrl = "";
let amUrl = "";
const procs: ReturnType<typeof Bun.spawn>[] = [];
const backends: ReturnType<typeof Bun.serve>[] = [];

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try { const v = await fn(); if (v !== undefined && v !== false) return v; } catch (err) { last = err; }
    await Bun.sleep(250);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}
const getJson = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(5000) })).json() as Promise<any>;

function spawnServer(cmd: string[], name: string) {
  const p = Bun.spawn(cmd, { cwd: dir, stdout: "ignore", stderr: "pipe" });
  let err = "";
  void (async () => { for await (const c of p.stderr as ReadableStream<Uint8Array>) err = (err + new TextDecoder().decode(c)).slice(-4000); })();
  procs.push(p);
  return { p, log: () => `${name}: ${err}` };
}

beforeAll(async () => {
  if (!PROMETHEUS || !ALERTMANAGER) throw new Error("prometheus / prometheus-alertmanager not installed (apt-get install prometheus prometheus-alertmanager; bun run test installs them)");
  dir = mkdtempSync(join(tmpdir(), "tradpal-prom-"));

  // Two trading instances that fail every call: the gateway reports 5xx to the breaker, which opens.
  for (let i = 0; i < 2; i++) backends.push(Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("down", { status: 500 }) }));
  // A clone whose config.yaml differs only in the trading instances and that route's auth.
  const root = join(dir, "clone");
  mkdirSync(root);
  for (const e of readdirSync(ROOT)) if (e !== "config.yaml" && e !== "data" && e !== ".git") symlinkSync(join(ROOT, e), join(root, e));
  let cfg = readFileSync(join(ROOT, "config.yaml"), "utf8");
  for (const [i, port] of [9001, 9002].entries()) cfg = cfg.replace(`"http://127.0.0.1:${port}"`, `"http://127.0.0.1:${backends[i].port}"`);
  cfg = cfg.replace(/auth_required: true/, "auth_required: false");
  expect(cfg).toContain(`127.0.0.1:${backends[1].port}`);
  writeFileSync(join(root, "config.yaml"), cfg);
  platform = await startPlatform(root);

  const amPort = freePort();
  amUrl = `http://127.0.0.1:${amPort}`;
  writeFileSync(join(dir, "am.yml"), 'route:\n  receiver: "null"\n  group_wait: 0s\nreceivers:\n  - name: "null"\n');
  const am = spawnServer([ALERTMANAGER, `--config.file=${join(dir, "am.yml")}`, `--storage.path=${join(dir, "am")}`, `--web.listen-address=127.0.0.1:${amPort}`, "--cluster.listen-address="], "alertmanager");
  await until("alertmanager ready", async () => (await fetch(`${amUrl}/-/ready`)).ok || undefined, 15_000).catch((e) => { throw new Error(`${e.message}\n${am.log()}`); });

  writeFileSync(join(dir, "alerts.yml"), readFileSync(RULES_FILE, "utf8").replace(/^(\s+for:) \S+$/gm, "$1 1s"));
  const targets = Object.entries(PLUGINS).map(([plugin, port]) => `      - { targets: ["${platform.mapPorts(`127.0.0.1:${port}`)}"], labels: { plugin: ${plugin} } }`);
  writeFileSync(join(dir, "prometheus.yml"), [
    // 2 s: a scrape may take over a second on a loaded machine (the timeout is the interval); a failed scrape makes every series stale.
    "global: { scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 1s }",
    "rule_files: [alerts.yml]",
    `alerting: { alertmanagers: [{ static_configs: [{ targets: ["127.0.0.1:${amPort}"] }] }] }`,
    "scrape_configs:", "  - job_name: tradpal", "    static_configs:", ...targets, "",
  ].join("\n"));
  const promPort = freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  const prom = spawnServer([PROMETHEUS, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${promPort}`], "prometheus");
  await until("prometheus ready", async () => (await fetch(`${promUrl}/-/ready`)).ok || undefined, 20_000).catch((e) => { throw new Error(`${e.message}\n${prom.log()}`); });
});

afterAll(async () => {
  for (const p of procs) { p.kill(); await p.exited; }
  for (const b of backends) b.stop(true);
  await platform?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("Prometheus scrapes every plugin port and loads every rule", async () => {
  const up = await until("5 targets up", async () => {
    const t = await getJson(`${promUrl}/api/v1/targets`);
    const active = t.data.activeTargets as { labels: { plugin: string }; health: string; lastError: string }[];
    return active.length === 5 && active.every((a) => a.health === "up") ? active : undefined;
  }, 15_000);
  expect(up.map((a) => a.labels.plugin).sort()).toEqual(Object.keys(PLUGINS).sort());
  const rules = await getJson(`${promUrl}/api/v1/rules`);
  const loaded = rules.data.groups.flatMap((g: any) => g.rules).filter((r: any) => r.health !== "err");
  const shipped = (readFileSync(RULES_FILE, "utf8").match(/^\s+- alert: /gm) ?? []).length;
  expect(loaded.length).toBe(shipped);
});

test("a breaker driven open and a refused reload fire their alerts in Prometheus and reach Alertmanager", async () => {
  const gw = platform.mapPorts("http://127.0.0.1:8000");
  const br = platform.mapPorts("http://127.0.0.1:8012");
  await until("trading breaker open", async () => {
    await fetch(`${gw}/api/trading/orders`, { signal: AbortSignal.timeout(5000) }).then((r) => r.arrayBuffer());
    const b = await getJson(`${br}/circuit-breakers/trading`);
    return b.state === "open" || undefined;
  }, 15_000);
  // An unparsable config.yaml: the watcher's reload is refused and the old config keeps running.
  writeFileSync(join(platform.dir, "config.yaml"), "host: [broken\n");

  const want = ["TradPalCircuitBreakerOpen", "TradPalConfigReloadFailed"];
  const firing = await until("alerts firing in Prometheus", async () => {
    const a = (await getJson(`${promUrl}/api/v1/alerts`)).data.alerts as { labels: Record<string, string>; state: string }[];
    const names = new Set(a.filter((x) => x.state === "firing").map((x) => x.labels.alertname));
    return want.every((n) => names.has(n)) ? a : undefined;
  }, 20_000);
  const open = firing.find((a) => a.labels.alertname === "TradPalCircuitBreakerOpen")!;
  expect(open.labels).toMatchObject({ breaker: "trading", severity: "critical", job: "tradpal", plugin: "breaker" });

  const received = await until("alerts at Alertmanager", async () => {
    const a = await getJson(`${amUrl}/api/v2/alerts`) as { labels: Record<string, string>; annotations: Record<string, string> }[];
    const names = new Set(a.map((x) => x.labels.alertname));
    return want.every((n) => names.has(n)) ? a : undefined;
  }, 20_000);
  const atAm = received.find((a) => a.labels.alertname === "TradPalCircuitBreakerOpen")!;
  expect(atAm.annotations.summary).toBe("breaker trading is open: calls to it are refused");
  expect(atAm.annotations.runbook).toContain("/circuit-breakers/");
});

test("the label shapes the rules assume are the ones Prometheus stores", async () => {
  const q = async (expr: string) => (await getJson(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)).data.result as { metric: Record<string, string> }[];
  // The gateway's own instance label (the upstream URL) arrives as exported_instance.
  // last_over_time: one scrape that timed out on a loaded machine must not empty the answer.
  const avail = await q('last_over_time(tradpal_gateway_upstream_available{service="trading"}[1m])');
  expect(avail.length).toBe(2);
  for (const s of avail) expect(s.metric.exported_instance).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect((await q('last_over_time(tradpal_gateway_requests_total{service="trading",status_class="5xx"}[1m]) > 0')).length).toBe(1);
  expect((await q('last_over_time(tradpal_breaker_state{breaker="trading",state="open"}[1m])')).length).toBe(1);
});

test("every dashboard and rule query evaluates in Prometheus", async () => {
  const bad: string[] = [];
  for (const { where, expr } of shippedExpressions()) {
    const filled = expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*");
    const r = await getJson(`${promUrl}/api/v1/query?query=${encodeURIComponent(filled)}`);
    if (r.status !== "success") bad.push(`${where}: ${r.error}`);
  }
  expect(bad).toEqual([]);
});
