/**
 * Token revocation reaching the gateway, end to end with real hosts and a real upstream:
 * (a) security + gateway in ONE host (bus topic `token.revoked`);
 * (b) security and gateway in TWO hosts sharing the real Redis (pub/sub channel, unique per run);
 * (c) a gateway started after the revocation seeds its deny-list from GET /tokens/revoked;
 * (d) a gateway whose Redis went away re-reads that list when it reconnects (messages were lost).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, SHARED_REDIS_URL, startHost, startPrivateRedis, type PrivateRedis, type TestHost } from "../../../test/support/harness";

const ADMIN = "adm-" + crypto.randomUUID();
const CHANNEL = `tradpal:test:revoked:${process.pid}:${crypto.randomUUID()}`;
let upstream: ReturnType<typeof Bun.serve>;
const hosts: TestHost[] = [];

beforeAll(() => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true }) });
});
afterAll(async () => {
  for (const h of hosts.reverse()) await h.stop().catch(() => {});
  upstream?.stop(true);
});

const securityBlock = (port: number | string, extra = "") =>
  `  security:\n    port: ${port}\n    admin_token: "${ADMIN}"\n    tokens: { revocation_channel: "${CHANNEL}" }\n    services:\n      trader: { scopes: [trade, read] }\n      gw: { scopes: [read], read_revocations: true }\n${extra}`;
const gatewayBlock = (securityUrl: string, revocation = "") =>
  `  gateway:\n    port: 0\n    auth: { jwks_url: "${securityUrl}/.well-known/jwks.json", revocation: { channel: "${CHANNEL}"${revocation} } }\n    rate_limiting: { enabled: false }\n    services:\n      - name: orders\n        path_prefix: /orders\n        auth_required: true\n        scopes: [trade]\n        instances:\n          - url: http://127.0.0.1:${upstream.port}\n        health_check: { enabled: false }\n`;
const hostBlock = (redis: boolean) => `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\n${redis ? `  redis_url: "${SHARED_REDIS_URL}"\n` : ""}plugins:\n`;

async function mint(securityUrl: string, service = "trader"): Promise<{ token: string; jti: string }> {
  const r = await fetch(`${securityUrl}/tokens/${service}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: "{}" });
  expect(r.status).toBe(201);
  const b = (await r.json()) as any;
  return { token: b.token, jti: b.jti };
}
async function revoke(securityUrl: string, token: string): Promise<void> {
  const r = await fetch(`${securityUrl}/tokens/revoke`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ token }) });
  expect(r.status).toBe(200);
}
const call = (gatewayUrl: string, tok: string) => fetch(`${gatewayUrl}/orders/1`, { headers: { authorization: `Bearer ${tok}` } });

/** auth_failures_total{reason="revoked"} on the gateway's /metrics (0 when not yet created). */
async function revokedFailures(gatewayUrl: string): Promise<number> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const m = /^tradpal_gateway_auth_failures_total\{reason="revoked"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Polls until the gateway refuses the token; returns the 401 response and how long it took. */
async function refusedWithin(gatewayUrl: string, tok: string, limitMs: number): Promise<{ res: Response; ms: number }> {
  const t0 = performance.now();
  for (;;) {
    const res = await call(gatewayUrl, tok);
    if (res.status === 401 || performance.now() - t0 > limitMs) return { res, ms: performance.now() - t0 };
    await res.arrayBuffer();
    await Bun.sleep(10);
  }
}

describe("one host: security + gateway (bus)", () => {
  let host: TestHost;
  let sec: string;
  let port: number;
  beforeAll(async () => {
    port = freePort();
    sec = `http://127.0.0.1:${port}`;
    host = await startHost(hostBlock(false) + securityBlock(port) + gatewayBlock(sec), { only: ["security", "gateway"] });
    hosts.push(host);
  });

  test("the deny-list survives a gateway config reload; the new instance hears new revocations", async () => {
    const a = await mint(sec);
    await revoke(sec, a.token);
    expect((await call(host.url("gateway"), a.token)).status).toBe(401);
    const r = await host.rewrite(hostBlock(false) + securityBlock(port) + gatewayBlock(sec, ", max_entries: 5000"));
    expect(JSON.stringify(r)).not.toContain("error");
    const gw = host.url("gateway");
    expect((await call(gw, a.token)).status).toBe(401); // fresh token cache, same deny-list
    const b = await mint(sec);
    expect((await call(gw, b.token)).status).toBe(200);
    await revoke(sec, b.token);
    expect((await call(gw, b.token)).status).toBe(401);
  });

  test("200 before, 401 (revoked) on the next call after POST /tokens/revoke; another token still works", async () => {
    const gw = host.url("gateway");
    const a = await mint(sec);
    const b = await mint(sec);
    expect((await call(gw, a.token)).status).toBe(200);
    expect((await call(gw, a.token)).status).toBe(200); // now served from the verified-token cache
    expect((await call(gw, b.token)).status).toBe(200);
    const before = await revokedFailures(gw);
    await revoke(sec, a.token);
    const res = await call(gw, a.token); // the bus is synchronous: the very next call is refused
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error_description="revoked"');
    expect(((await res.json()) as any).error.code).toBe("GW_ERR_AUTH_INVALID");
    expect((await call(gw, b.token)).status).toBe(200);
    expect(await revokedFailures(gw)).toBe(before + 1);
  });

  test("GET /tokens/revoked: admin and a granted service read it; others are refused; bad revoke input is a 400", async () => {
    const a = await mint(sec);
    await revoke(sec, a.token);
    const list = await fetch(`${sec}/tokens/revoked`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(list.status).toBe(200);
    const items = (await list.json()) as { jti: string; exp: number }[];
    expect(items.some((i) => i.jti === a.jti && i.exp > Date.now() / 1000)).toBe(true);
    // An entry whose token has long expired is not worth sending to a gateway.
    const stale = `stale-${crypto.randomUUID()}`;
    const rs = await fetch(`${sec}/tokens/revoke`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ jti: stale, exp: Math.floor(Date.now() / 1000) - 3600 }) });
    expect(rs.status).toBe(200);
    const again = (await (await fetch(`${sec}/tokens/revoked`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { jti: string }[];
    expect(again.map((i) => i.jti)).not.toContain(stale);
    expect(again.map((i) => i.jti)).toContain(a.jti);
    const gwTok = (await mint(sec, "gw")).token;
    expect((await fetch(`${sec}/tokens/revoked`, { headers: { authorization: `Bearer ${gwTok}` } })).status).toBe(200);
    const trader = (await mint(sec)).token;
    const denied = await fetch(`${sec}/tokens/revoked`, { headers: { authorization: `Bearer ${trader}` } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).error.code).toBe("SEC_ERR_FORBIDDEN");
    expect((await fetch(`${sec}/tokens/revoked`)).status).toBe(401);
    for (const body of [{ jti: "" }, { jti: 5 }, {}, { token: "not.a.token" }]) {
      const r = await fetch(`${sec}/tokens/revoke`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error.code).toBe("SEC_ERR_BAD_BODY");
    }
  });
});

describe("two hosts sharing the real Redis (pub/sub channel)", () => {
  let security: TestHost;
  let gateway: TestHost;
  let sec: string;
  beforeAll(async () => {
    security = await startHost(hostBlock(true) + securityBlock(0), { only: ["security"] });
    hosts.push(security);
    sec = security.url("security");
    gateway = await startHost(hostBlock(true) + gatewayBlock(sec), { only: ["gateway"] });
    hosts.push(gateway);
  });

  test("the gateway in the other host refuses a token revoked at the security plugin; another token still works", async () => {
    const gw = gateway.url("gateway");
    const h = (await (await fetch(`${gw}/health`)).json()) as any;
    expect(JSON.stringify(h)).toContain('"subscribed":true');
    const a = await mint(sec);
    const b = await mint(sec);
    expect((await call(gw, a.token)).status).toBe(200);
    expect((await call(gw, b.token)).status).toBe(200);
    await revoke(sec, a.token);
    const { res } = await refusedWithin(gw, a.token, 2000);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("revoked");
    expect((await call(gw, b.token)).status).toBe(200);
  });

  test("a malformed message on the channel is ignored (no crash; tokens keep working)", async () => {
    const { default: Redis } = await import("ioredis");
    const pub = new Redis(SHARED_REDIS_URL);
    try {
      for (const m of ["not json", "{}", JSON.stringify({ jti: 1, exp: "x" }), "null"]) await pub.publish(CHANNEL, m);
    } finally {
      await pub.quit();
    }
    await Bun.sleep(50);
    const c = await mint(sec);
    expect((await call(gateway.url("gateway"), c.token)).status).toBe(200);
  });

  test("a gateway started after the revocation seeds its deny-list from GET /tokens/revoked", async () => {
    const a = await mint(sec);
    await revoke(sec, a.token);
    // No Redis for this one (embedded mode): only the list can tell it.
    const gwTok = (await mint(sec, "gw")).token;
    const late = await startHost(hostBlock(false) + gatewayBlock(sec, `, list_url: "${sec}/tokens/revoked", list_token: "${gwTok}"`), { only: ["gateway"] });
    hosts.push(late);
    const res = await call(late.url("gateway"), a.token);
    expect(res.status).toBe(401);
    expect((await call(late.url("gateway"), (await mint(sec)).token)).status).toBe(200);
  });
});

describe("Redis reconnect: the gateway re-reads the list (pub/sub messages are lost while disconnected)", () => {
  let redis: PrivateRedis;
  let security: TestHost;
  let gateway: TestHost;
  let sec: string;
  beforeAll(async () => {
    redis = await startPrivateRedis({ appendonly: false });
    // The security host has no Redis: it cannot publish, so only the list can carry this revocation.
    security = await startHost(hostBlock(false) + securityBlock(0), { only: ["security"] });
    hosts.push(security);
    sec = security.url("security");
    const gwTok = (await mint(sec, "gw")).token;
    gateway = await startHost(hostBlock(false) + gatewayBlock(sec, `, redis_url: "${redis.url}", list_url: "${sec}/tokens/revoked", list_token: "${gwTok}"`), { only: ["gateway"] });
    hosts.push(gateway);
  });
  afterAll(async () => { await redis?.stop(); });

  test("revoked while the channel was silent → still 200; after the Redis restart the gateway re-seeds → 401", async () => {
    const gw = gateway.url("gateway");
    const a = await mint(sec);
    expect((await call(gw, a.token)).status).toBe(200);
    await revoke(sec, a.token);
    expect((await call(gw, a.token)).status).toBe(200); // nobody told it (the gap the list closes)
    await redis.restart();
    const { res } = await refusedWithin(gw, a.token, 8000);
    expect(res.status).toBe(401);
    expect((await call(gw, (await mint(sec)).token)).status).toBe(200);
  }, 15_000);
});

describe("revocation channel's Redis unreachable at start", () => {
  test("the gateway still starts and serves; same-host revocations (bus) still work; health says not subscribed", async () => {
    const port = freePort();
    const sec = `http://127.0.0.1:${port}`;
    const dead = `redis://127.0.0.1:${freePort()}`;
    const t0 = performance.now();
    const host = await startHost(hostBlock(false) + securityBlock(port) + gatewayBlock(sec, `, redis_url: "${dead}"`), { only: ["security", "gateway"] });
    hosts.push(host);
    expect(performance.now() - t0).toBeLessThan(10_000); // bounded wait, not a hang
    const gw = host.url("gateway");
    const h = (await (await fetch(`${gw}/health`)).json()) as any;
    expect(JSON.stringify(h)).toContain('"subscribed":false');
    const a = await mint(sec);
    expect((await call(gw, a.token)).status).toBe(200);
    await revoke(sec, a.token);
    expect((await call(gw, a.token)).status).toBe(401);
  });
});

describe("security plugin with host.redis_url unreachable", () => {
  test("POST /tokens/revoke still answers 200 (publish failure is logged), GET /tokens/revoked lists it, stop does not hang", async () => {
    const dead = `redis://127.0.0.1:${freePort()}`;
    const head = `host:\n  data_dir: \${DATA_DIR}\n  log_level: error\n  redis_url: "${dead}"\nplugins:\n`;
    const host = await startHost(head + securityBlock(0), { only: ["security"] });
    try {
      const sec = host.url("security");
      const a = await mint(sec);
      await revoke(sec, a.token);
      const items = (await (await fetch(`${sec}/tokens/revoked`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { jti: string }[];
      expect(items.map((i) => i.jti)).toContain(a.jti);
    } finally {
      const t0 = performance.now();
      await host.stop();
      expect(performance.now() - t0).toBeLessThan(3000);
    }
  });
});
