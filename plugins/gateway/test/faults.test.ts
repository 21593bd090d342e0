/**
 * Faults around the proxy: the shared registry's Redis going away, auth_required with no auth configured, and the
 * pooled client's keep-alive connections surviving a config reload.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { expectNoOutstandingPermits } from "../../../test/support/permits";
import { SignJWT } from "jose";
import { gatewayConfig, service, startUpstream, type Upstream } from "./support";
import { startHost, startPrivateRedis } from "../../../test/support/harness";

const upstreams: Upstream[] = [];
afterAll(() => { for (const u of upstreams) u.stop(); });
afterEach(() => expectNoOutstandingPermits()); // every request of a fault test settled its breaker permit
const hc = "        health_check: { enabled: false }\n";

test("registry Redis down: registrations answer 503 GW_ERR_REGISTRY_UNAVAILABLE, proxying keeps the last known instances", async () => {
  const redis = await startPrivateRedis({ appendonly: false });
  const a = startUpstream();
  upstreams.push(a);
  const yaml = `    registration: { sync_interval: 100ms, redis_prefix: "gwtest:${process.pid}:", admin_token: "faults-admin-token-0123456789" }\n    services:\n${service("dyn", "/dyn", [], hc)}`;
  const t = await startHost(gatewayConfig(yaml, `  redis_url: ${redis.url}\n`), { only: ["gateway"] });
  try {
    const base = t.url("gateway");
    const reg = await fetch(`${base}/services/dyn/instances`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer faults-admin-token-0123456789" }, body: JSON.stringify({ url: a.url, ttl: 60 }) });
    expect(reg.status).toBe(201);
    expect((await fetch(`${base}/dyn/x`)).status).toBe(200);
    await redis.stop();
    await Bun.sleep(300);
    expect((await fetch(`${base}/dyn/x`)).status).toBe(200);
    const again = await fetch(`${base}/services/dyn/instances`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer faults-admin-token-0123456789" }, body: JSON.stringify({ url: a.url, ttl: 60 }) });
    expect(again.status).toBe(503);
    expect((await again.json()).error.code).toBe("GW_ERR_REGISTRY_UNAVAILABLE");
    const health = await (await fetch(`${base}/health`)).json();
    expect(JSON.stringify(health)).toContain("redis: down");
  } finally {
    await t.stop();
    await redis.stop();
  }
}, 20_000);

test("with no auth configured (no JWT secret, JWKS, users or API keys), auth_required routes still fail closed (401); others still proxy", async () => {
  const a = startUpstream(() => new Response("open"));
  upstreams.push(a);
  const t = await startHost(gatewayConfig(`    services:\n${service("locked", "/locked", [a.url], hc + "        auth_required: true\n")}\n${service("open", "/open", [a.url], hc)}`), { only: ["gateway"] });
  try {
    const base = t.url("gateway");
    const r = await fetch(`${base}/locked/x`);
    expect(r.status).toBe(401);
    expect((await r.json()).error.code).toBe("GW_ERR_AUTH_MISSING");
    // A token signed with a secret of the caller's choosing is not believed either.
    const forged = await new SignJWT({ scope: "admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("mallory").setIssuer("tradpal-gateway").setAudience("tradpal").setIssuedAt().setExpirationTime("5m")
      .sign(new TextEncoder().encode("a-secret-the-gateway-never-saw-0123456789"));
    const f = await fetch(`${base}/locked/x`, { headers: { authorization: `Bearer ${forged}` } });
    expect(f.status).toBe(401);
    expect((await f.json()).error.code).toBe("GW_ERR_AUTH_INVALID");
    expect(await (await fetch(`${base}/open/x`)).text()).toBe("open");
    expect(a.hits).toBe(1);
  } finally {
    await t.stop();
  }
}, 20_000);

test("pooled client: keep-alive connections to an unchanged instance survive a config reload", async () => {
  let accepted = 0;
  const listener = Bun.listen({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open() { accepted++; },
      data(s, d) { for (const _ of new TextDecoder().decode(d).matchAll(/\r\n\r\n/g)) s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); },
    },
  });
  const url = `http://127.0.0.1:${listener.port}`;
  const body = (extra: string) => `    upstream_client: pooled\n    services:\n${service("ka", "/ka", [url], hc)}${extra}`;
  const t = await startHost(gatewayConfig(body("")), { only: ["gateway"] });
  try {
    const base = t.url("gateway");
    for (let i = 0; i < 5; i++) expect(await (await fetch(`${base}/ka/x`)).text()).toBe("ok");
    expect(accepted).toBe(1);
    expect((await t.rewrite(gatewayConfig(body(`\n${service("other", "/other", [url], hc)}`)))).ok).toBe(true);
    for (let i = 0; i < 5; i++) expect(await (await fetch(`${base}/ka/x`)).text()).toBe("ok");
    expect(accepted).toBe(1);
  } finally {
    await t.stop();
    listener.stop(true);
  }
});
