/**
 * OpenAPI per plugin (issue 13, Build 6): GET /openapi.json on each port lists every route the plugin
 * serves (its Elysia routes, the fast paths outside Elysia, the gateway's /auth/* and proxied service
 * prefixes, the host's /health, /metrics, /openapi.json, /docs) and validates as OpenAPI 3
 * (@apidevtools/swagger-parser). /docs renders it in a real headless Chromium, offline: no request
 * leaves the port. The gateway answers both paths itself even with a catch-all service on "/".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { chromium, type BrowserContext } from "playwright-core";
import { startHost, type TestHost } from "./support/harness";
import { startGateway, startUpstream } from "../plugins/gateway/test/support";
import { templatePath } from "../src/host/openapi";
import type { PluginInstance } from "../src/core/plugin";

const CHROMIUM = "/usr/bin/chromium";
const OUT = join(import.meta.dir, "..", "test-output");
const upstream = startUpstream();
const PLUGINS = ["gateway", "events", "security", "breaker", "falco"] as const;
let t: TestHost;
let ctx: BrowserContext | undefined;
let profile = "";
const docs: Record<string, any> = {};

beforeAll(async () => {
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
plugins:
  security: { port: 0 }
  events: { port: 0 }
  breaker: { port: 0, admin_token: openapi-test-admin-token }
  falco: { port: 0 }
  gateway:
    port: 0
    rate_limiting: { enabled: false }
    services:
      - { name: trading, path_prefix: /api/trading, instances: [{ url: "${upstream.url}" }], health_check: { enabled: false }, auth_required: true, scopes: [trade], methods: [GET, POST] }
      - { name: everything, path_prefix: /, instances: [{ url: "${upstream.url}" }], health_check: { enabled: false } }
`, { only: [...PLUGINS] });
  for (const id of PLUGINS) {
    const r = await fetch(`${t.url(id)}/openapi.json`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    docs[id] = await r.json();
  }
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  await t?.stop();
  upstream.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const instanceOf = (id: string): PluginInstance => (t.host as any).running.get(id).slot.gen.instance;
const has = (doc: any, method: string, path: string) => !!doc.paths?.[path]?.[method.toLowerCase()];

/** Routes each plugin's manual names, fast paths included: the document must list them. */
const KNOWN: Record<string, [string, string][]> = {
  gateway: [["POST", "/auth/login"], ["POST", "/auth/refresh"], ["GET", "/services"], ["POST", "/services/{name}/instances"], ["DELETE", "/services/{name}"], ["GET", "/api/trading/{path}"], ["POST", "/api/trading/{path}"], ["GET", "/{path}"]],
  events: [["POST", "/events"], ["GET", "/events"], ["GET", "/events/stats"], ["GET", "/events/subscribe"], ["POST", "/events/replay"], ["GET", "/events/replays/{id}"]],
  security: [["POST", "/tokens/validate"], ["GET", "/.well-known/jwks.json"], ["POST", "/tokens/{service}"], ["GET", "/secrets/{path}"], ["PUT", "/secrets/{path}"], ["GET", "/ca/certificate"], ["GET", "/v1/secret/data/{path}"]],
  breaker: [["GET", "/circuit-breakers"], ["POST", "/circuit-breakers/{name}/reset"], ["POST", "/circuit-breakers/{name}/force-open"], ["GET", "/alerts"], ["GET", "/dashboard"]],
  falco: [["POST", "/falco/alerts"], ["POST", "/"], ["GET", "/ping"], ["GET", "/falco/stats"], ["POST", "/falco/quarantine/{service}/lift"]],
};

describe("/openapi.json", () => {
  for (const id of PLUGINS) {
    test(`${id}: valid OpenAPI 3, every Elysia route and every known route listed`, async () => {
      const doc = docs[id];
      expect(doc.openapi).toMatch(/^3\.0\.\d$/);
      expect(doc.info.title).toContain(id);
      await SwaggerParser.validate(structuredClone(doc)); // throws on any structural error

      const inst = instanceOf(id);
      const routes = [inst.app, ...(inst.docs?.apps ?? [])].flatMap((a) => a.routes as { method: string; path: string }[]);
      expect(routes.length).toBeGreaterThan(2);
      const missing = routes.filter((r) => r.method !== "ALL" && !has(doc, r.method, templatePath(r.path))).map((r) => `${r.method} ${r.path}`);
      expect(missing).toEqual([]);
      const absent = [...KNOWN[id], ["GET", "/health"], ["GET", "/metrics"], ["GET", "/openapi.json"], ["GET", "/docs"]].filter(([m, p]) => !has(doc, m, p)).map(([m, p]) => `${m} ${p}`);
      expect(absent).toEqual([]);
      for (const p of Object.keys(doc.paths)) expect(p).not.toMatch(/[:*]/); // templates, not router syntax
    });
  }

  test("TypeBox bodies become request schemas", () => {
    const login = docs.gateway.paths["/auth/login"].post.requestBody.content["application/json"].schema;
    expect(Object.keys(login.properties).sort()).toEqual(["api_key", "password", "username"]);
    expect(login.properties.username).toMatchObject({ type: "string", maxLength: 128 });
    expect(docs.gateway.paths["/api/trading/{path}"].get.summary).toContain("scopes: trade");
    // A fast path's body (POST /events skips Elysia's router) is documented from the validator's own schema.
    const publish = docs.events.paths["/events"].post.requestBody.content["application/json"].schema;
    expect(publish.anyOf).toHaveLength(3);
    expect(publish.anyOf[0].required).toEqual(["type", "payload"]);
    // Every operation answers errors in one shape.
    expect(docs.breaker.paths["/circuit-breakers/{name}/reset"].post.responses.default.content["application/json"].schema.$ref).toBe("#/components/schemas/Error");
  });

  test("the gateway serves /openapi.json and /docs itself: a catch-all service on / never sees them", async () => {
    const before = upstream.seen.length;
    for (const p of ["/openapi.json", "/docs", "/openapi.json?x=1"]) expect((await fetch(`${t.url("gateway")}${p}`)).status).toBe(200);
    expect(upstream.seen.slice(before).map((s) => s.path)).toEqual([]);
    expect((await (await fetch(`${t.url("gateway")}/other`)).json()).path).toBe("/other"); // the catch-all still proxies
    const post = await fetch(`${t.url("events")}/openapi.json`, { method: "POST" }); // GET only: other methods are the plugin's
    expect(post.status).toBe(404);
  });

  // Its own gateway: the shared one has a catch-all on "/", and a runtime prefix under a configured one is
  // refused (409 GW_ERR_SERVICE_CONFLICT: it would shadow the configured service).
  test("runtime services appear in the gateway's document", async () => {
    const gw = await startGateway("    registration: { admin_token: openapi-test-admin }\n    services: []\n");
    try {
      const add = (name: string) => fetch(`${gw.url("gateway")}/services`, { method: "POST", headers: { authorization: "Bearer openapi-test-admin", "content-type": "application/json" }, body: JSON.stringify({ name, path_prefix: `/${name}`, instances: [{ url: upstream.url }] }) });
      const r = await add("late");
      expect(r.status, await r.clone().text()).toBe(201);
      const doc = await (await fetch(`${gw.url("gateway")}/openapi.json`)).json();
      expect(has(doc, "GET", "/late/{path}")).toBe(true);
      expect(doc.paths["/late/{path}"].get.summary).toContain("late");
      await SwaggerParser.validate(doc);
    } finally {
      await gw.stop();
    }
  });
});

describe("/docs in headless Chromium", () => {
  test("renders each plugin's routes offline, with a screenshot", async () => {
    profile = mkdtempSync(join(tmpdir(), "openapi-chromium-"));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 900 },
    });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    mkdirSync(OUT, { recursive: true });
    for (const id of PLUGINS) {
      requests.length = 0;
      const origin = t.url(id);
      await page.goto(`${origin}/docs`, { waitUntil: "load" });
      await page.waitForSelector("body[data-rendered]", { timeout: 10_000 });
      const rendered = Number(await page.getAttribute("body", "data-rendered"));
      const ops = Object.values(docs[id].paths).reduce((n: number, item: any) => n + Object.keys(item).length, 0);
      expect(rendered).toBe(ops);
      const text = await page.innerText("main");
      for (const [, p] of KNOWN[id]) expect(text).toContain(p);
      expect(await page.title()).toContain(id);
      await page.locator(`details[data-route="${KNOWN[id][0][0]} ${KNOWN[id][0][1]}"] summary`).click();
      const file = join(OUT, `openapi-docs-${id}.png`);
      await page.screenshot({ path: file, fullPage: false });
      expect(statSync(file).size).toBeGreaterThan(10_000);
      expect(requests.filter((u) => !u.startsWith(origin + "/"))).toEqual([]); // nothing from a CDN
    }
    const login = await ctx.pages()[0].goto(`${t.url("gateway")}/docs`);
    expect(login?.headers()["content-security-policy"]).toContain("default-src 'none'");
  }, 60_000);
});
