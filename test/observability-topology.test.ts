/**
 * The gateway's live call graph: traffic to a healthy and a failing service shows in GET /topology as
 * edges caller → route → service → instance with their counts, error ratios and latencies; the failing
 * service's breaker opens and the graph says so. GET /topology/view draws it in a real headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core); the screenshot goes to test-output/topology.png.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startHost, type TestHost } from "./support/harness";

const OUT = join(import.meta.dir, "..", "test-output");
const good = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true }) });
const bad = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("broken", { status: 500 }) });
let t: TestHost;

beforeAll(async () => {
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
plugins:
  breaker: { port: 0, admin_token: topology-test-admin-token, defaults: { failure_threshold: 5 } }
  gateway:
    port: 0
    rate_limiting: { enabled: false }
    services:
      - name: quotes
        path_prefix: /api/quotes
        instances: [{ url: "http://127.0.0.1:${good.port}" }]
        health_check: { enabled: false }
      - name: orders
        path_prefix: /api/orders
        instances: [{ url: "http://127.0.0.1:${bad.port}" }]
        health_check: { enabled: false }
        outlier: { enabled: false }
        retries: { attempts: 0 }
`, { only: ["breaker", "gateway"] });
});
afterAll(async () => { await t?.stop(); good.stop(true); bad.stop(true); });

type Edge = { caller: string; route: string; service: string; instance: string; requests: number; errors: number; error_ratio: number; rps: number; p50_ms: number | null; p99_ms: number | null };

test("GET /topology reflects the traffic: edges, rates, errors, latencies and the open breaker", async () => {
  const gw = t.url("gateway");
  for (let i = 0; i < 20; i++) expect((await fetch(`${gw}/api/quotes/btc`)).status).toBe(200);
  for (let i = 0; i < 10; i++) await (await fetch(`${gw}/api/orders/1`)).arrayBuffer();
  const topo = await (await fetch(`${gw}/topology`)).json() as { window_s: number; breakers: Record<string, string>; nodes: { kind: string; id: string }[]; edges: Edge[] };

  const quotes = topo.edges.filter((e) => e.service === "quotes");
  expect(quotes).toHaveLength(1);
  expect(quotes[0]).toMatchObject({ caller: "127.0.0.1", route: "quotes", instance: `http://127.0.0.1:${good.port}`, requests: 20, errors: 0, error_ratio: 0 });
  expect(quotes[0].rps).toBeCloseTo(20 / topo.window_s, 3);
  expect(quotes[0].p50_ms).not.toBeNull();
  expect(quotes[0].p99_ms!).toBeGreaterThanOrEqual(quotes[0].p50_ms!);

  // orders: five answered 500 by the instance, then the breaker opened and the gateway refused the rest.
  const orders = topo.edges.filter((e) => e.service === "orders");
  const viaInstance = orders.find((e) => e.instance === `http://127.0.0.1:${bad.port}`)!;
  const refused = orders.find((e) => e.instance === "(none)")!;
  expect(viaInstance).toMatchObject({ requests: 5, errors: 5, error_ratio: 1 });
  expect(refused).toMatchObject({ requests: 5, errors: 5 });
  expect(topo.breakers.orders).toBe("open");
  expect(topo.nodes.filter((n) => n.kind === "service").map((n) => n.id)).toEqual(["orders", "quotes"]);
});

test("GET /topology/view draws the graph (headless Chromium; screenshot in test-output/topology.png)", async () => {
  mkdirSync(OUT, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "topology-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"], viewport: { width: 1300, height: 420 } });
  try {
    const page = await ctx.newPage();
    await page.goto(`${t.url("gateway")}/topology/view`, { timeout: 15_000 });
    await page.waitForSelector("path[data-edge]", { timeout: 10_000 });
    const edges = await page.$$eval("path[data-edge]", (ps) => ps.map((p) => ({ edge: p.getAttribute("data-edge"), from: p.getAttribute("data-from"), to: p.getAttribute("data-to"), stroke: p.getAttribute("stroke"), dash: p.getAttribute("stroke-dasharray") })));
    // caller→route ×2, route→service ×2, service→instance ×3 (orders: its instance and "(none)").
    expect(edges.filter((e) => e.edge === "caller→route")).toHaveLength(2);
    expect(edges.filter((e) => e.edge === "service→instance")).toHaveLength(3);
    const toQuotes = edges.find((e) => e.edge === "route→service" && e.to === "quotes")!;
    const toOrders = edges.find((e) => e.edge === "route→service" && e.to === "orders")!;
    expect(toQuotes.stroke).toBe("#2e7d32"); // no errors: green
    expect(toOrders).toMatchObject({ stroke: "#c62828", dash: "6 4" }); // open breaker: red, dashed
    expect(await page.getAttribute('rect[data-node="service:orders"]', "stroke")).toBe("#c62828");
    expect(await page.textContent("#meta")).toContain("edges over the last 60 s");
    await page.screenshot({ path: join(OUT, "topology.png"), fullPage: true });
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test("the edge map is bounded: idle edges make room, and when none is idle new callers count as \"other\"", async () => {
  const { Topology } = await import("../plugins/gateway/topology");
  const topo = new Topology(60);
  const t0 = 1_000_000_000;
  for (let i = 0; i < 2000; i++) topo.record(`10.0.${i >> 8}.${i & 255}`, "r", "s", "i", 200, 1, t0);
  topo.record("192.0.2.1", "r", "s", "i", 200, 1, t0);
  expect(topo.snapshot(t0).edges.some((e) => e.caller === "other")).toBe(true);
  // A window later the old callers are idle: a new one gets its own edge again.
  topo.record("192.0.2.2", "r", "s", "i", 500, 1, t0 + 61_000);
  const later = topo.snapshot(t0 + 61_000);
  expect(later.edges.map((e) => e.caller)).toEqual(["192.0.2.2"]);
  expect(later.edges[0]).toMatchObject({ requests: 1, errors: 1, error_ratio: 1 });
});
