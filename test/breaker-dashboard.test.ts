/**
 * The dashboard page in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core):
 * open the page, trip a breaker with a failing upstream behind the real gateway, watch it turn open live (SSE), reset it from
 * the page, watch it close. Screenshots go to test-output/ (gitignored).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startHost, type TestHost } from "./support/harness";

const OUT = join(import.meta.dir, "..", "test-output");
const CHROMIUM = "/usr/bin/chromium";

function upstream(status: number) {
  const state = { status };
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("{}", { status: state.status }) });
  return { state, server, url: `http://127.0.0.1:${server.port}` };
}

let t: TestHost;
let ctx: BrowserContext;
let page: Page;
let profile: string;
const ups = { orders: upstream(200), inventory: upstream(200), payments: upstream(200) };

beforeAll(async () => {
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  breaker:
    port: 0
    defaults: { failure_threshold: 5, minimum_calls: 10, recovery_timeout: 60s }
    alerts: { failure_rate_warning: 20 }
    stream_interval: 500ms
  gateway:
    port: 0
    access_log: { enabled: false }
    services:
${Object.entries(ups).map(([name, u]) => `      - { name: ${name}, path_prefix: /${name}, instances: [{ url: "${u.url}" }], health_check: { enabled: false }, outlier: { enabled: false }, retries: { attempts: 0 } }`).join("\n")}
`);
  profile = mkdtempSync(join(tmpdir(), "breaker-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 860 },
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  await t?.stop();
  for (const u of Object.values(ups)) u.server.stop(true);
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const call = (svc: string, n: number) => Promise.all(Array.from({ length: n }, () => fetch(`${t.url("gateway")}/${svc}/x`).then((r) => r.arrayBuffer())));
const card = (name: string) => page.locator(`section.card[data-breaker="${name}"]`);

test("an operator watches a breaker open live and resets it from the page", async () => {
  // Some healthy traffic, and a service with a worrying (warning-level) failure rate.
  await call("inventory", 12);
  for (let i = 0; i < 12; i++) { ups.payments.state.status = i % 4 === 0 ? 503 : 200; await call("payments", 1); }

  await page.goto(`${t.url("breaker")}/dashboard`, { waitUntil: "domcontentloaded" });
  expect(await page.title()).toContain("Circuit breakers");
  await page.waitForSelector("#live.on", { timeout: 5000 });
  await expect(card("orders").getAttribute("data-state")).resolves.toBe("closed");

  // The upstream starts failing: the breaker trips and the page shows it without a reload.
  ups.orders.state.status = 500;
  for (let i = 0; i < 5; i++) await call("orders", 1);
  await call("orders", 3); // refused fast (503) → rejected counter on the card
  await page.waitForSelector(`section.card[data-breaker="orders"][data-state="open"]`, { timeout: 5000 });
  await page.waitForSelector("#alerts .alert.critical", { timeout: 5000 });
  expect(await page.locator("#alerts").innerText()).toContain("orders is open");
  expect(await card("orders").locator(".badge").innerText()).toMatch(/open/i);
  // The three refused calls show up with the next live snapshot.
  await page.waitForFunction(() => document.querySelector('section.card[data-breaker="orders"] .stats div:nth-child(4) b')?.textContent === "3", undefined, { timeout: 5000 });
  mkdirSync(OUT, { recursive: true });
  const shot = join(OUT, "breaker-dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(10_000);

  // Reset from the page; the upstream is healthy again.
  ups.orders.state.status = 200;
  await card("orders").locator("button.reset").click();
  await page.waitForSelector(`section.card[data-breaker="orders"][data-state="closed"]`, { timeout: 5000 });
  await page.waitForSelector("#toast", { state: "visible", timeout: 2000 });
  expect(await page.locator("#toast").innerText()).toContain("open → closed");
  const api = await (await fetch(`${t.url("breaker")}/circuit-breakers/orders`)).json();
  expect(api.state).toBe("closed");
  expect(api.transitions[0]).toMatchObject({ to: "closed", reason: "reset from dashboard", origin: "operator" });
  await page.screenshot({ path: join(OUT, "breaker-dashboard-after-reset.png"), fullPage: true });
  expect(existsSync(join(OUT, "breaker-dashboard-after-reset.png"))).toBe(true);
}, 30_000);

test("the page loads nothing from outside the breaker's own origin", async () => {
  const origins = new Set<string>();
  const onRequest = (r: { url(): string }) => origins.add(new URL(r.url()).origin);
  page.on("request", onRequest);
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector("#live.on", { timeout: 5000 });
  page.off("request", onRequest);
  expect([...origins]).toEqual([new URL(t.url("breaker")).origin]);
}, 15_000);
