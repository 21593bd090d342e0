/**
 * Issue 11 item 1: the registry is not an open door. One host runs the security plugin (ES256
 * tokens, JWKS) and the gateway; an attacker tries to add its own instance (a logging origin) to an
 * auth_required service without a credential, with bad/forged/expired tokens, with another service's
 * scope, and pointing at disallowed addresses. Every attempt is refused, coded and audited (the
 * hash-chained log is read back), and no real client request reaches the attacker's origin. With the
 * right credential the same registration works (the control that proves the test can fail).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, generateKeyPair, decodeProtectedHeader } from "jose";
import { startHost, freePort, type TestHost } from "../support/harness";
import { startLoggingOrigin, type LoggingOrigin } from "./support/logging-origin";
import { verifyChain } from "../../src/lib/audit/chain";

let t: TestHost;
let gw: string;
let sec: string;
let secPort: number;
let gwPort: number;
let admin: string;
let legit: ReturnType<typeof Bun.serve>;
let attacker: LoggingOrigin;

beforeAll(async () => {
  legit = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ legit: true }) });
  attacker = startLoggingOrigin();
  secPort = freePort();
  // No admin_token anywhere: the security plugin writes <data_dir>/security/admin-token and the gateway reads it.
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
plugins:
  security:
    port: ${secPort}
    services:
      trader: { scopes: [trade] }
      reg-orders: { scopes: ["register:orders", trade] }
      reg-all: { scopes: ["register:*"] }
      svc-writer: { scopes: ["services:write"] }
  gateway:
    port: 0
    auth: { jwks_url: "http://127.0.0.1:${secPort}/.well-known/jwks.json", clock_skew: 1s }
    rate_limiting: { enabled: false, auth_failures_per_ip: "0" }
    registration: { sync_interval: 100ms }
    services:
      - { name: orders, path_prefix: /orders, auth_required: true, scopes: [trade], instances: [{ url: "http://127.0.0.1:${legit.port}" }], health_check: { enabled: false } }
      - { name: billing, path_prefix: /billing, instances: [], health_check: { enabled: false } }
`);
  gw = t.url("gateway");
  sec = t.url("security");
  gwPort = Number(new URL(gw).port);
  admin = readFileSync(join(t.dir, "data", "security", "admin-token"), "utf8").trim();
});
afterAll(async () => { await t?.stop(); legit?.stop(true); attacker?.stop(); });

async function mint(service: string, ttl?: number): Promise<string> {
  const r = await fetch(`${sec}/tokens/${service}`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify(ttl ? { ttl } : {}) });
  expect(r.status).toBe(201);
  return ((await r.json()) as { token: string }).token;
}
const register = (svc: string, url: string, headers: Record<string, string> = {}) =>
  fetch(`${gw}/services/${svc}/instances`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ url, ttl: 60 }) });
const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });
const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

function audit(): Record<string, any>[] {
  const file = join(t.dir, "data", "gateway-audit.log");
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  expect(verifyChain(text).ok).toBe(true);
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
async function auditSettles(n: number): Promise<Record<string, any>[]> {
  for (let i = 0; i < 50; i++) { await Bun.sleep(10); const a = audit(); if (a.length >= n) return a; }
  return audit();
}

/** Real clients call the orders route; none of their requests may reach the attacker. */
async function clientsStayOffAttacker() {
  const tok = await mint("trader");
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${gw}/orders/x${i}`, { headers: bearer(tok) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ legit: true });
  }
  expect(attacker.requests).toEqual([]);
}

describe("credential", () => {
  test("no credential, garbage, forged, expired and foreign tokens: 401 GW_ERR_UNAUTHENTICATED, audited", async () => {
    const before = audit().length;
    const real = await mint("reg-orders");
    const [h, p, s] = real.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "reg-all", scope: "register:*", scopes: ["register:*"] })).toString("base64url")}.${s}`;
    const { privateKey } = await generateKeyPair("ES256");
    const selfSigned = await new SignJWT({ sub: "reg-all", scope: "register:*" }).setProtectedHeader({ alg: "ES256", kid: decodeProtectedHeader(real).kid }).setIssuer("tradpal-security").setAudience("tradpal").setExpirationTime("5m").sign(privateKey);
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${p}.`;
    const hs = await new SignJWT({ sub: "x", scope: "register:*" }).setProtectedHeader({ alg: "HS256" }).setIssuer("tradpal-gateway").setAudience("tradpal").setExpirationTime("5m").sign(new TextEncoder().encode("guessed-secret"));
    const expired = await mint("reg-orders", 1);
    await Bun.sleep(2300); // past exp + the 1s skew
    const attempts: Record<string, string>[] = [
      {}, { authorization: "" }, { authorization: "Bearer" }, { authorization: "Bearer garbage" }, { authorization: "Basic YWRtaW46YWRtaW4=" },
      { authorization: `Bearer ${admin}x` }, { authorization: `Bearer ${admin.slice(0, -1)}` }, { authorization: `Bearer ${admin.toUpperCase()}` },
      { "x-admin-token": admin }, { "x-api-key": "guess" }, bearer(tampered), bearer(selfSigned), bearer(none), bearer(hs), bearer(expired),
    ];
    for (const headers of attempts) {
      const r = await register("orders", attacker.url, headers);
      expect({ headers, status: r.status }).toEqual({ headers, status: 401 });
      expect(await code(r)).toBe("GW_ERR_UNAUTHENTICATED");
    }
    // DELETE and runtime services follow the same rule.
    expect((await fetch(`${gw}/services/orders/instances?url=${encodeURIComponent(`http://127.0.0.1:${legit.port}`)}`, { method: "DELETE" })).status).toBe(401);
    expect((await fetch(`${gw}/services`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "evil", path_prefix: "/evil", instances: [{ url: attacker.url }] }) })).status).toBe(401);
    expect((await fetch(`${gw}/services/orders`, { method: "DELETE" })).status).toBe(401);
    const lines = (await auditSettles(before + attempts.length + 3)).slice(before);
    expect(lines.length).toBe(attempts.length + 3);
    for (const l of lines) expect(l).toMatchObject({ who: "anonymous", outcome: "denied", status: 401, code: "GW_ERR_UNAUTHENTICATED", ip: "127.0.0.1" });
    expect(lines[0]).toMatchObject({ action: "register", service: "orders", url: attacker.url });
    await clientsStayOffAttacker();
  }, 20_000);

  test("a valid token without the scope for THAT service: 403 GW_ERR_ADMIN_FORBIDDEN, audited with the subject", async () => {
    const before = audit().length;
    const cases: [string, string][] = [["trader", "orders"], ["reg-orders", "billing"], ["svc-writer", "orders"]];
    for (const [who, svc] of cases) {
      const r = await register(svc, attacker.url, bearer(await mint(who)));
      expect(r.status).toBe(403);
      expect(await code(r)).toBe("GW_ERR_ADMIN_FORBIDDEN");
    }
    // register:* does not grant runtime services
    const rs = await fetch(`${gw}/services`, { method: "POST", headers: { "content-type": "application/json", ...bearer(await mint("reg-all")) }, body: JSON.stringify({ name: "evil", path_prefix: "/evil", instances: [{ url: attacker.url }] }) });
    expect(rs.status).toBe(403);
    const lines = (await auditSettles(before + 4)).slice(before);
    expect(lines.map((l) => [l.who, l.service, l.outcome, l.status])).toEqual([
      ["jwt:trader", "orders", "denied", 403], ["jwt:reg-orders", "billing", "denied", 403], ["jwt:svc-writer", "orders", "denied", 403], ["jwt:reg-all", "evil", "denied", 403],
    ]);
    await clientsStayOffAttacker();
  });
});

describe("addresses", () => {
  test("platform ports, unspecified, public, link-local, IPv6 loopback forms, numeric IP forms, userinfo, names: 403 GW_ERR_ADDRESS_REFUSED, audited", async () => {
    const tok = await mint("reg-all");
    const before = audit().length;
    const refused = [
      `http://127.0.0.1:${secPort}`, `http://127.0.0.1:${gwPort}`, `http://127.0.0.2:${secPort}`, "http://127.0.0.1:8009", "http://127.0.0.1:8011",
      `http://0.0.0.0:${attacker.port}`, `http://[::]:${attacker.port}`, `http://0.1.2.3:${attacker.port}`,
      "http://8.8.8.8:80", "http://1.1.1.1", "https://93.184.216.34", "http://[2001:db8::1]:80", "http://169.254.169.254", "http://100.64.0.1:80",
      `http://[::1]:${secPort}`, `http://[0:0:0:0:0:0:0:1]:${secPort}`, `http://[::ffff:127.0.0.1]:${secPort}`, `http://[::ffff:7f00:1]:${secPort}`, `http://[::127.0.0.1]:${secPort}`,
      `http://2130706433:${secPort}`, `http://0x7f000001:${secPort}`, `http://0x7f.0.0.1:${attacker.port}`, `http://0177.0.0.1:${attacker.port}`, `http://127.1:${attacker.port}`, `http://127.0.0.%31:${attacker.port}`,
      `http://a@127.0.0.1:${secPort}`, `http://a:b@127.0.0.1:${attacker.port}`, `http://127.0.0.1:${attacker.port}@8.8.8.8`,
      `http://localhost:${secPort}`, `http://localhost:${attacker.port}`, "http://example.com", `http://attacker.example:${attacker.port}`,
    ];
    for (const url of refused) {
      const r = await register("orders", url, bearer(tok));
      expect({ url, status: r.status }).toEqual({ url, status: 403 });
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("GW_ERR_ADDRESS_REFUSED");
      expect(body.error.message.length).toBeGreaterThan(10); // the reason
    }
    const lines = (await auditSettles(before + refused.length)).slice(before);
    expect(lines.map((l) => l.url)).toEqual(refused);
    for (const l of lines) expect(l).toMatchObject({ who: "jwt:reg-all", action: "register", service: "orders", outcome: "denied", status: 403, code: "GW_ERR_ADDRESS_REFUSED" });
    const view = (await (await fetch(`${gw}/services/orders`)).json()) as { instances: { url: string }[] };
    expect(view.instances.map((i) => i.url)).toEqual([`http://127.0.0.1:${legit.port}`]);
    await clientsStayOffAttacker();
  }, 20_000);
});

describe("the right credential", () => {
  test("register:orders token and the admin token register, heartbeat and remove; audited as ok; traffic then reaches the instance", async () => {
    const before = audit().length;
    const tok = await mint("reg-orders");
    const r = await register("orders", attacker.url, bearer(tok));
    expect(r.status).toBe(201);
    const client = await mint("trader");
    for (let i = 0; i < 10; i++) expect((await fetch(`${gw}/orders/p${i}`, { headers: bearer(client) })).status).toBe(200);
    expect(attacker.requests.length).toBeGreaterThan(0); // the control: a registered instance does get traffic
    expect((await register("orders", attacker.url, bearer(admin))).status).toBe(200); // heartbeat with the admin token
    const del = await fetch(`${gw}/services/orders/instances`, { method: "DELETE", headers: { "content-type": "application/json", ...bearer(tok) }, body: JSON.stringify({ url: attacker.url }) });
    expect(del.status).toBe(200);
    const lines = (await auditSettles(before + 3)).slice(before);
    expect(lines.map((l) => [l.who, l.action, l.outcome, l.status, l.url])).toEqual([
      ["jwt:reg-orders", "register", "ok", 201, attacker.url], ["admin-token", "register", "ok", 200, attacker.url], ["jwt:reg-orders", "deregister", "ok", 200, attacker.url],
    ]);
    attacker.reset();
    await clientsStayOffAttacker();
  });
});

describe("runtime services (POST /services)", () => {
  const post = (body: unknown, headers: Record<string, string>) => fetch(`${gw}/services`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  test("services:write creates a routed service; it never shadows a configured one (409); its instances obey the address rules", async () => {
    const tok = await mint("svc-writer");
    const shadows = [
      { name: "orders", path_prefix: "/x-orders", instances: [] }, { name: "o2", path_prefix: "/orders", instances: [] },
      { name: "o3", path_prefix: "/orders/", instances: [] }, { name: "o4", path_prefix: "/orders/admin", instances: [{ url: attacker.url }] },
    ];
    for (const body of shadows) {
      const r = await post(body, bearer(tok));
      expect({ body, status: r.status }).toEqual({ body, status: 409 });
      expect(await code(r)).toBe("GW_ERR_SERVICE_CONFLICT");
    }
    const bad = await post({ name: "quotes", path_prefix: "/quotes", instances: [{ url: `http://127.0.0.1:${secPort}` }] }, bearer(tok));
    expect(bad.status).toBe(403);
    expect(await code(bad)).toBe("GW_ERR_ADDRESS_REFUSED");
    expect((await post({ name: "quotes", path_prefix: "/quotes", instances: [], host: "x" }, bearer(tok))).status).toBe(400);
    const ok = await post({ name: "quotes", path_prefix: "/quotes", instances: [{ url: `http://127.0.0.1:${legit.port}` }], auth_required: true, rate_limit: "100/min" }, bearer(tok));
    expect(ok.status).toBe(201);
    expect((await fetch(`${gw}/quotes/1`)).status).toBe(401); // auth_required is enforced on the new route
    expect(await (await fetch(`${gw}/quotes/1`, { headers: bearer(await mint("trader")) })).json()).toEqual({ legit: true });
    expect((await fetch(`${gw}/services/orders`, { method: "DELETE", headers: bearer(tok) })).status).toBe(409);
    expect((await fetch(`${gw}/services/quotes`, { method: "DELETE", headers: bearer(tok) })).status).toBe(200);
    expect((await fetch(`${gw}/quotes/1`)).status).toBe(404);
    const lines = audit().filter((l) => l.action.startsWith("service."));
    expect(lines.filter((l) => l.outcome === "ok").map((l) => [l.who, l.action, l.service])).toEqual([["jwt:svc-writer", "service.create", "quotes"], ["jwt:svc-writer", "service.delete", "quotes"]]);
    expect(attacker.requests).toEqual([]);
  });
});

describe("two gateways on one Redis", () => {
  test("a registration and a runtime service made on one gateway with the right credential are routed by the other", async () => {
    const prefix = `tradpal:test:reg11:${process.pid}:${Date.now()}:`;
    const ADMIN = `gw-admin-${crypto.randomUUID()}`;
    const yaml = `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\n  redis_url: redis://127.0.0.1:6379\nplugins:\n  gateway:\n    port: 0\n    rate_limiting: { enabled: false }\n    registration: { sync_interval: 100ms, redis_prefix: "${prefix}", admin_token: "${ADMIN}" }\n    services:\n      - { name: shared, path_prefix: /shared, instances: [], health_check: { enabled: false } }\n`;
    const env = { REDIS_URL: "redis://127.0.0.1:6379" };
    const g1 = await startHost(yaml, { only: ["gateway"], env });
    const g2 = await startHost(yaml, { only: ["gateway"], env });
    const until = async (url: string, want: number) => {
      let s = 0;
      for (let i = 0; i < 60 && s !== want; i++) { s = (await fetch(url)).status; if (s !== want) await Bun.sleep(50); }
      return s;
    };
    try {
      const h = { "content-type": "application/json", ...bearer(ADMIN) };
      const refused = await fetch(`${g1.url("gateway")}/services/shared/instances`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ url: attacker.url }) });
      expect(refused.status).toBe(401);
      const redisPort = await fetch(`${g1.url("gateway")}/services/shared/instances`, { method: "POST", headers: { "content-type": "application/json", ...bearer(ADMIN) }, body: JSON.stringify({ url: "http://127.0.0.1:6379" }) });
      expect(redisPort.status).toBe(403); // the platform's Redis is one of its own ports
      const r = await fetch(`${g1.url("gateway")}/services/shared/instances`, { method: "POST", headers: h, body: JSON.stringify({ url: `http://127.0.0.1:${legit.port}`, ttl: 30 }) });
      expect(r.status).toBe(201);
      expect(await until(`${g2.url("gateway")}/shared/x`, 200)).toBe(200);
      const s = await fetch(`${g1.url("gateway")}/services`, { method: "POST", headers: h, body: JSON.stringify({ name: "rt", path_prefix: "/rt", instances: [{ url: `http://127.0.0.1:${legit.port}` }] }) });
      expect(s.status).toBe(201);
      expect(await until(`${g2.url("gateway")}/rt/x`, 200)).toBe(200);
      expect(((await (await fetch(`${g2.url("gateway")}/services/rt`)).json()) as { source: string }).source).toBe("runtime");
      expect((await fetch(`${g1.url("gateway")}/services/rt`, { method: "DELETE", headers: h })).status).toBe(200);
      expect(await until(`${g2.url("gateway")}/rt/x`, 404)).toBe(404);
    } finally {
      await g1.stop();
      await g2.stop();
      const { default: Redis } = await import("ioredis");
      const redis = new Redis("redis://127.0.0.1:6379");
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
  }, 20_000);
});

describe("guessing the admin token", () => {
  test("bad credentials from one address are throttled (429) by the edge's failure gate; admin-token guesses then are not even compared", async () => {
    const ADMIN = `gw-admin-${crypto.randomUUID()}`;
    const g = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  gateway:\n    port: 0\n    auth: { hs256_secret: "guess-${crypto.randomUUID()}" }\n    rate_limiting: { enabled: false, auth_failures_per_ip: 5/min }\n    registration: { admin_token: "${ADMIN}" }\n    services:\n      - { name: dyn, path_prefix: /dyn, instances: [], health_check: { enabled: false } }\n`, { only: ["gateway"] });
    try {
      const post = (tok: string) => fetch(`${g.url("gateway")}/services/dyn/instances`, { method: "POST", headers: { "content-type": "application/json", ...bearer(tok) }, body: JSON.stringify({ url: attacker.url }) });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await post(`${ADMIN.slice(0, -2)}${i}`)).status);
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(6)).toEqual([429, 429, 429, 429, 429, 429]);
      const right = await post(ADMIN); // the right token from the throttled address waits too
      expect(right.status).toBe(429);
      expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(attacker.requests).toEqual([]);
    } finally {
      await g.stop();
    }
  });
});
