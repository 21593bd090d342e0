/**
 * Runtime registration over REST: TTL, heartbeat, removal, validation; shared through Redis in
 * cluster mode. Every change carries the admin token (the refusals are test/security/registry.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gatewayConfig, load, service, startGateway, startUpstream, type Upstream } from "./support";
import { startHost, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";

const hc = "        health_check: { enabled: false }\n";
const ADMIN = `gw-admin-${crypto.randomUUID()}`;
const H = { "content-type": "application/json", authorization: `Bearer ${ADMIN}` };
let t: TestHost;
let base: string;
let a: Upstream;
let b: Upstream;

beforeAll(async () => {
  a = startUpstream(undefined, { record: false });
  b = startUpstream(undefined, { record: false });
  t = await startGateway(`    registration: { default_ttl: 30s, sync_interval: 100ms, admin_token: "${ADMIN}" }
    services:
${service("dyn", "/dyn", [], hc)}
${service("mixed", "/mixed", [a.url], hc)}
${service("narrow", "/narrow", [], hc + "        registration: { allow: [\"127.0.0.1:1-65535\"] }\n")}`);
  base = t.url("gateway");
});
afterAll(async () => { await t?.stop(); a?.stop(); b?.stop(); });

const register = (name: string, body: unknown) => fetch(`${base}/services/${name}/instances`, { method: "POST", headers: H, body: JSON.stringify(body) });

describe("embedded registry", () => {
  test("a service with no instance answers 503 until one registers", async () => {
    expect((await fetch(`${base}/dyn/x`)).status).toBe(503);
    const r = await register("dyn", { url: a.url, ttl: 30 });
    expect(r.status).toBe(201);
    expect(await r.json()).toMatchObject({ service: "dyn", url: a.url, weight: 1, renewed: false });
    expect((await fetch(`${base}/dyn/x`)).status).toBe(200);
  });

  test("a re-POST is the heartbeat: 200, renewed, expiry pushed back", async () => {
    const first = await (await fetch(`${base}/services/dyn`)).json();
    await Bun.sleep(20);
    const r = await register("dyn", { url: a.url, ttl: 30 });
    expect(r.status).toBe(200);
    expect((await r.json()).renewed).toBe(true);
    const second = await (await fetch(`${base}/services/dyn`)).json();
    expect(Date.parse(second.instances[0].expires_at)).toBeGreaterThan(Date.parse(first.instances[0].expires_at));
  });

  test("GET /services lists instances with source, health, weight and counters", async () => {
    await register("mixed", { url: b.url, weight: 3, ttl: 30 });
    const body = await (await fetch(`${base}/services`)).json();
    const mixed = body.services.find((s: { name: string }) => s.name === "mixed");
    expect(mixed.instances.map((i: any) => [i.url, i.weight, i.source, i.available])).toEqual([[a.url, 1, "config", true], [b.url, 3, "registered", true]]);
    expect(mixed.instances[0]).toHaveProperty("requests");
    expect(mixed.instances[0]).toHaveProperty("active_requests");
    expect(mixed).toHaveProperty("retry_budget");
  });

  test("an instance whose TTL passes without a heartbeat leaves the pool", async () => {
    const r = await register("dyn", { url: b.url, ttl: 0.3 });
    expect(r.status).toBe(201);
    const during = await load(20, 2, () => fetch(`${base}/dyn/x`));
    expect(during.some((x) => x.body.includes(String(b.port)))).toBe(true);
    await Bun.sleep(500);
    const view = await (await fetch(`${base}/services/dyn`)).json();
    expect(view.instances.map((i: { url: string }) => i.url)).toEqual([a.url]);
    const after = await load(20, 2, () => fetch(`${base}/dyn/x`));
    expect(after.every((x) => x.status === 200 && x.body.includes(String(a.port)))).toBe(true);
  });

  test("DELETE removes a registration; a second DELETE is 404", async () => {
    const r = await fetch(`${base}/services/dyn/instances`, { method: "DELETE", headers: H, body: JSON.stringify({ url: a.url }) });
    expect(r.status).toBe(200);
    expect((await fetch(`${base}/dyn/x`)).status).toBe(503);
    const again = await fetch(`${base}/services/dyn/instances?url=${encodeURIComponent(a.url)}`, { method: "DELETE", headers: H });
    expect(again.status).toBe(404);
    expect((await again.json()).error.code).toBe("GW_ERR_UNKNOWN_INSTANCE");
  });

  test("bad registrations are coded 4xx errors", async () => {
    const unknown = await register("nope", { url: a.url });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe("GW_ERR_UNKNOWN_SERVICE");
    for (const bad of [{ url: "ftp://x" }, { url: "http://h:1/path" }, {}, { url: a.url, weight: 0 }, { url: a.url, ttl: -1 }, { url: a.url, weight: "x" }]) {
      const r = await register("dyn", bad);
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toBe("GW_ERR_VALIDATION");
    }
    const notJson = await fetch(`${base}/services/dyn/instances`, { method: "POST", headers: H, body: "{" });
    expect(notJson.status).toBe(400);
  });
});

describe("per-service allow list and runtime service validation", () => {
  test("services[].registration.allow replaces the default for that service only", async () => {
    const r = await register("narrow", { url: "http://127.0.0.2:9001" });
    expect(r.status).toBe(403);
    expect((await r.json()).error.code).toBe("GW_ERR_ADDRESS_REFUSED");
    expect((await register("dyn", { url: "http://127.0.0.2:9001", ttl: 0.2 })).status).toBe(201); // the default allows all of 127.0.0.0/8
    expect((await register("narrow", { url: b.url, ttl: 30 })).status).toBe(201);
  });

  test("bad POST /services bodies are coded 400s, never a 500", async () => {
    const post = (body: string) => fetch(`${base}/services`, { method: "POST", headers: H, body });
    for (const body of ['[]', '"x"', "{}", '{"name":"x"}', '{"name":"x y","path_prefix":"/x"}', '{"name":"x","path_prefix":"x"}', '{"name":"x","path_prefix":"/x","instances":[{"url":"ftp://a"}]}', '{"name":"x","path_prefix":"/x","rate_limit":"lots"}', '{"name":"x","path_prefix":"/x","transform":{}}']) {
      const r = await post(body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect((await r.json()).error.code).toMatch(/^GW_ERR_/);
    }
  });
});

describe("registration.admin_port: the admin endpoints off the data plane", () => {
  test("served only on the admin listener (credential still required); the data port answers 404; a reload keeps the listener", async () => {
    const yaml = `    registration: { admin_port: 0, admin_token: "${ADMIN}" }\n    services:\n${service("dyn", "/dyn", [], hc)}`;
    const g = await startGateway(yaml);
    let adminUrl = "";
    try {
      const data = g.url("gateway");
      const health = (await (await fetch(`${data}/health`)).json()) as any;
      adminUrl = `http://${JSON.stringify(health).match(/"admin_listener":"([^"]+)"/)![1]}`;
      const post = (at: string, headers: Record<string, string>) => fetch(`${at}/services/dyn/instances`, { method: "POST", headers, body: JSON.stringify({ url: a.url }) });
      const onData = await post(data, H);
      expect(onData.status).toBe(404);
      expect((await onData.json()).error.code).toBe("GW_ERR_NO_ROUTE");
      expect((await fetch(`${data}/services`)).status).toBe(404);
      expect((await post(adminUrl, { "content-type": "application/json" })).status).toBe(401);
      expect((await post(adminUrl, H)).status).toBe(201);
      const self = await fetch(`${adminUrl}/services/dyn/instances`, { method: "POST", headers: H, body: JSON.stringify({ url: adminUrl }) });
      expect(self.status).toBe(403); // the admin listener is one of the platform's ports
      expect((await fetch(`${data}/dyn/x`)).status).toBe(200);
      expect((await fetch(`${adminUrl}/services/dyn`)).status).toBe(200);
      const out = await g.rewrite(gatewayConfig(yaml.replace("services:", "access_log: { enabled: false }\n    services:")));
      expect(out.ok).toBe(true);
      expect((await post(adminUrl, H)).status).toBe(200); // the heartbeat, answered by the new instance
    } finally {
      await g.stop();
    }
    expect(await fetch(`${adminUrl}/services`).then(() => "open", () => "closed")).toBe("closed"); // shutdown closed it
  });
});

describe("cluster mode (REDIS_URL set): registrations are shared through Redis", () => {
  test("an instance registered on one gateway is routed by another", async () => {
    const prefix = `tradpal:test:gw:${process.pid}:${Date.now()}:`;
    const yaml = `    registration: { sync_interval: 100ms, redis_prefix: "${prefix}", admin_token: "${ADMIN}" }
    services:
${service("shared", "/shared", [], hc)}`;
    const hostExtra = `  redis_url: ${SHARED_REDIS_URL}\n`;
    const g1 = await startHost(gatewayConfig(yaml, hostExtra), { only: ["gateway"] });
    const g2 = await startHost(gatewayConfig(yaml, hostExtra), { only: ["gateway"] });
    try {
      const r = await fetch(`${g1.url("gateway")}/services/shared/instances`, { method: "POST", headers: H, body: JSON.stringify({ url: b.url, ttl: 1 }) });
      expect(r.status).toBe(201);
      const deadline = Date.now() + 3000;
      let status = 0;
      while (Date.now() < deadline && status !== 200) { status = (await fetch(`${g2.url("gateway")}/shared/x`)).status; if (status !== 200) await Bun.sleep(50); }
      expect(status).toBe(200);
      const health = await (await fetch(`${g2.url("gateway")}/health`)).json();
      expect(JSON.stringify(health)).toContain("redis: up");
      // TTL expiry applies across gateways too.
      await Bun.sleep(1300);
      expect((await fetch(`${g2.url("gateway")}/shared/x`)).status).toBe(503);
    } finally {
      await g1.stop();
      await g2.stop();
      const { default: Redis } = await import("ioredis");
      const r = new Redis(SHARED_REDIS_URL);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
    }
  }, 15_000);
});
