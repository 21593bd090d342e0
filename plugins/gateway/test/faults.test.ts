/**
 * Faults around the proxy: the shared registry's Redis going away, the edge policy missing, and the
 * pooled client's keep-alive connections surviving a config reload.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { expectNoOutstandingPermits } from "../../../test/support/permits";
import { gatewayConfig, service, spawnGateway, startUpstream, type Upstream } from "./support";
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

test("without the edge policy, auth_required routes fail closed (503 GW_ERR_EDGE_UNAVAILABLE); others still proxy", async () => {
  const a = startUpstream(() => new Response("open"));
  upstreams.push(a);
  // The edge module is chosen at import time, so this runs a gateway process with it switched off.
  const gw = await spawnGateway(`    services:\n${service("locked", "/locked", [a.url], hc + "        auth_required: true\n")}\n${service("open", "/open", [a.url], hc)}`, { env: { GATEWAY_DISABLE_EDGE: "1" }, noEdgeKeys: true });
  try {
    const r = await fetch(`${gw.url}/locked/x`);
    expect(r.status).toBe(503);
    expect((await r.json()).error.code).toBe("GW_ERR_EDGE_UNAVAILABLE");
    expect(await (await fetch(`${gw.url}/open/x`)).text()).toBe("open");
    expect(a.hits).toBe(1);
  } finally {
    await gw.stop();
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
