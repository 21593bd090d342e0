/**
 * End to end through the real gateway (startHost → plugins/gateway → this edge policy → a real
 * upstream): 401/403/429 on the wire, /auth/login, one cluster-wide limit over two gateway hosts
 * sharing Redis, Redis stopped under load (no 5xx, health says fallback), spoofed X-Forwarded-For.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { startHost, startPrivateRedis, SHARED_REDIS_URL, type TestHost, type PrivateRedis } from "../../../test/support/harness";
import { uniquePrefix } from "../edge/test-support";

const SECRET = "e2e-secret-" + crypto.randomUUID();
let upstream: ReturnType<typeof Bun.serve>;
let upstreamHits = 0;
const hosts: TestHost[] = [];
let priv: PrivateRedis | undefined;

beforeAll(() => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => { upstreamHits++; return Response.json({ ok: true, path: new URL(req.url).pathname }); } });
});
afterAll(async () => {
  for (const h of hosts) await h.stop();
  upstream?.stop(true);
  await priv?.stop();
});

function config(edge: string, services: string) {
  return `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  gateway:\n    port: 0\n${edge}    services:\n${services}`;
}
function svc(name: string, prefix: string, extra = "") {
  return `      - name: ${name}\n        path_prefix: ${prefix}\n        instances:\n          - url: http://127.0.0.1:${upstream.port}\n        health_check: { enabled: false }\n${extra}`;
}
async function gateway(yaml: string) {
  const h = await startHost(yaml, { only: ["gateway"] });
  hosts.push(h);
  return h;
}
const token = (scope: string, sub = "alice") => new SignJWT({ sub, scope }).setProtectedHeader({ alg: "HS256" }).setIssuer("tradpal-gateway").setAudience("tradpal").setIssuedAt().setExpirationTime("5m").sign(new TextEncoder().encode(SECRET));

async function load(n: number, concurrency: number, send: (i: number) => Promise<Response>) {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      try { const r = await send(i); await r.arrayBuffer(); statuses.push(r.status); } catch { statuses.push(-1); }
    }
  }));
  return statuses;
}

describe("through the real gateway", () => {
  let gw: TestHost;
  let base: string;
  beforeAll(async () => {
    const hash = await Bun.password.hash("pw-e2e", { algorithm: "argon2id" });
    gw = await gateway(config(
      `    auth: { hs256_secret: "${SECRET}" }\n    users:\n      - { name: carol, password_hash: "${hash}", scopes: [trade] }\n    rate_limiting: { trusted_proxies: ["10.0.0.0/8"] }\n`,
      svc("orders", "/orders", "        auth_required: true\n        scopes: [trade]\n        rate_limit: 5/min\n") + svc("public", "/public", "        rate_limit: 3/min\n"),
    ));
    base = gw.url("gateway");
  });

  test("no token → 401 with WWW-Authenticate; upstream not called", async () => {
    const before = upstreamHits;
    const r = await fetch(`${base}/orders/1`);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toStartWith("Bearer");
    expect(((await r.json()) as any).error.code).toBe("GW_ERR_AUTH_MISSING");
    expect(upstreamHits).toBe(before);
  });

  test("token without the scope → 403; forged token → 401", async () => {
    expect((await fetch(`${base}/orders/1`, { headers: { authorization: `Bearer ${await token("read")}` } })).status).toBe(403);
    const forged = (await token("trade")).slice(0, -3) + "AAA";
    expect((await fetch(`${base}/orders/1`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
  });

  test("valid token → proxied with RateLimit headers; over the limit → 429 with Retry-After", async () => {
    const auth = { authorization: `Bearer ${await token("trade", "dave")}` };
    const first = await fetch(`${base}/orders/1`, { headers: auth });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true, path: "/orders/1" });
    expect(first.headers.get("ratelimit-policy")).toBe('"orders";q=5;w=60');
    expect(first.headers.get("ratelimit")).toBe('"orders";r=4;t=12');
    const rest = await load(6, 1, () => fetch(`${base}/orders/1`, { headers: auth }));
    expect(rest.filter((s) => s === 200)).toHaveLength(4);
    const limited = await fetch(`${base}/orders/1`, { headers: auth });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("POST /auth/login through the gateway, then the token opens the route", async () => {
    const r = await fetch(`${base}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "carol", password: "pw-e2e" }) });
    expect(r.status).toBe(200);
    const { access_token } = (await r.json()) as any;
    expect((await fetch(`${base}/orders/2`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
    const bad = await fetch(`${base}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(bad.status).toBe(400);
  });

  test("spoofed X-Forwarded-For from an untrusted peer (127.0.0.1 not trusted here) does not change the key", async () => {
    const statuses = await load(8, 1, (i) => fetch(`${base}/public/x`, { headers: { "x-forwarded-for": `198.51.100.${i}` } }));
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
  });

  test("the edge's metrics are on the gateway's /metrics", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('tradpal_gateway_auth_failures_total{reason="missing"}');
    expect(text).toContain('tradpal_gateway_ratelimit_limited_total{policy="orders"}');
    expect(text).toContain("tradpal_gateway_token_cache_requests_total");
  });
});

// The core passes the TCP peer to /auth/* through policy.handleOwn once it calls it (feature-detected).
const coreUsesHandleOwn = (await Bun.file(new URL("../proxy/fetch-lane.ts", import.meta.url).pathname).text()).includes("handleOwn");

describe("login throttling through the gateway", () => {
  test.skipIf(!coreUsesHandleOwn)("per client IP across accounts (the core hands the peer to the edge)", async () => {
    const g = await gateway(config(`    auth: { hs256_secret: "${SECRET}" }\n    rate_limiting: { login_per_ip: 3/min, trusted_proxies: [] }\n`, svc("p", "/p")));
    const base = g.url("gateway");
    const statuses = await load(5, 1, (i) => fetch(`${base}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: `nobody${i}`, password: "x" }) }));
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(g.logs.some((l) => String(l.msg).includes("without the client address"))).toBe(false);
  });
});

describe("hot reload", () => {
  test("a changed limit applies at once; counters of unchanged policies survive the reload", async () => {
    const edge = `    rate_limiting: { trusted_proxies: [] }\n`;
    const before = config(edge, svc("keep", "/keep", "        rate_limit: 3/min\n") + svc("change", "/change", "        rate_limit: 3/min\n"));
    const g = await gateway(before);
    const base = g.url("gateway");
    expect(await load(2, 1, () => fetch(`${base}/keep/x`))).toEqual([200, 200]);
    expect(await load(2, 1, () => fetch(`${base}/change/x`))).toEqual([200, 200]);
    const after = config(edge, svc("keep", "/keep", "        rate_limit: 3/min\n") + svc("change", "/change", "        rate_limit: 6/min\n"));
    const r = await g.rewrite(after);
    expect((r as any).ok ?? true).toBe(true);
    const base2 = g.url("gateway");
    expect(await load(3, 1, () => fetch(`${base2}/keep/x`))).toEqual([200, 429, 429]); // 2 of 3 already used
    const changed = await load(7, 1, () => fetch(`${base2}/change/x`));
    expect(changed.filter((s) => s === 200)).toHaveLength(6); // the new policy starts with a full bucket
    const res = await fetch(`${base2}/change/x`);
    expect(res.headers.get("ratelimit-policy")).toBe('"change";q=6;w=60');
  });
});

describe("metrics", () => {
  test("the edge's metric families pass promtool check metrics", async () => {
    const g = hosts[0];
    const text = await (await fetch(`${g.url("gateway")}/metrics`)).text();
    const families = ["auth_failures_total", "ratelimit_limited_total", "token_cache_requests_total", "token_cache_hit_ratio", "ratelimit_fallback", "ratelimit_fallback_transitions_total", "ratelimit_fallback_decisions_total"];
    const mine = text.split("\n").filter((l) => families.some((f) => new RegExp(`(^|\\s)tradpal_gateway_${f}(\\{|\\s|$)`).test(l))).join("\n") + "\n";
    expect(mine).toContain("tradpal_gateway_token_cache_hit_ratio");
    const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(mine), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(`${out}${err}`.trim()).toBe("");
    expect(code).toBe(0);
  });
});

describe("two gateway hosts sharing one Redis", () => {
  test("100/min, 300 requests spread over both → 100 pass (±1%), the rest 429, no other status", async () => {
    const prefix = uniquePrefix();
    const yaml = config(`    rate_limiting: { store: redis, redis_url: "${SHARED_REDIS_URL}", key_prefix: "${prefix}" }\n`, svc("cl", "/cl", "        rate_limit: 100/min\n") + svc("warm", "/warm"));
    const a = await gateway(yaml);
    const b = await gateway(yaml);
    const urls = [a.url("gateway"), b.url("gateway")];
    // Warm both gateways (JIT, upstream connections) on another route: GCRA refills one request per
    // 600 ms at 100/min, so the measured burst should not be slowed by first-request costs.
    await load(40, 8, (i) => fetch(`${urls[i % 2]}/warm/x`));
    const statuses = await load(300, 64, (i) => fetch(`${urls[i % 2]}/cl/x`));
    const passed = statuses.filter((s) => s === 200).length;
    expect(passed).toBeGreaterThanOrEqual(99);
    expect(passed).toBeLessThanOrEqual(101);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  });
});

describe("Redis stopped during load, through the gateway", () => {
  test("no 5xx, health reports the fallback, cluster limiting resumes when Redis is back", async () => {
    priv = await startPrivateRedis({ appendonly: false });
    const yaml = config(`    rate_limiting: { store: redis, redis_url: "${priv.url}", key_prefix: "${uniquePrefix()}", probe_interval: 200ms, trusted_proxies: [] }\n`, svc("fb", "/fb", "        rate_limit: 1000000/min\n"));
    const g = await gateway(yaml);
    const base = g.url("gateway");
    const health = async () => JSON.stringify(await (await fetch(`${base}/health`)).json());
    expect(await health()).toContain('"mode":"redis"');

    let stop = false;
    const statuses: number[] = [];
    const loader = (async () => {
      for (let i = 0; i < 5000 && !stop; i++) statuses.push(...(await load(8, 8, () => fetch(`${base}/fb/x`))));
    })();
    await Bun.sleep(200);
    await priv.stop();
    const deadline = Date.now() + 3000;
    while (!(await health()).includes('"mode":"fallback"') && Date.now() < deadline) await Bun.sleep(50);
    expect(await health()).toContain('"mode":"fallback"');
    const during = statuses.length;
    await Bun.sleep(300);
    expect(statuses.length).toBeGreaterThan(during); // requests keep flowing
    await priv.start();
    const back = Date.now() + 5000;
    while (!(await health()).includes('"mode":"redis"') && Date.now() < back) await Bun.sleep(50);
    expect(await health()).toContain('"mode":"redis"');
    stop = true;
    await loader;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(g.logs.filter((l) => String(l.msg).startsWith("cluster rate limiting unavailable"))).toHaveLength(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/tradpal_gateway_ratelimit_fallback_transitions_total 1/);
  }, 20_000);
});
