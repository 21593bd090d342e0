/**
 * Local rate limiting through the policy: per route and per client, headers (draft and legacy),
 * 429 with Retry-After, X-Forwarded-For believed only from trusted proxies, counters that survive
 * a reload when the policy is unchanged and restart when it changes.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { createEdgePolicy } from "../edge-policy/policy";
import { decodeGatewaySettings } from "../schema";
import { route, testContext, decide } from "../test/support";
import type { EdgePolicy, EdgeRoute } from "../edge-policy/contract";
import { createSharedPool } from "../../../src/core/shared-pool";

const SECRET = "rl-secret-" + crypto.randomUUID();
const open: EdgePolicy[] = [];
afterEach(async () => { for (const p of open.splice(0)) await p.stop(); });

async function make(raw: Record<string, unknown>, routes: EdgeRoute[], ctx = testContext()) {
  const p = await createEdgePolicy(decodeGatewaySettings({ auth: { hs256_secret: SECRET }, ...raw }), ctx, routes);
  open.push(p);
  return p;
}

async function send(p: EdgePolicy, r: EdgeRoute, peer: string, headers: Record<string, string> = {}) {
  return decide(p.check(new Request("http://gw/x", { headers }), r, peer));
}

async function countAllowed(p: EdgePolicy, r: EdgeRoute, n: number, peer: string, headers: Record<string, string> = {}) {
  let ok = 0;
  for (let i = 0; i < n; i++) if (!(await send(p, r, peer, headers)).reject) ok++;
  return ok;
}

const token = (sub: string) => new SignJWT({ sub, scope: "read" }).setProtectedHeader({ alg: "HS256" }).setIssuer("tradpal-gateway").setAudience("tradpal").setExpirationTime("5m").sign(new TextEncoder().encode(SECRET));

describe("local limiter", () => {
  test("route limit applies per client IP; other clients and routes are unaffected", async () => {
    const a = route("a", { rate: "5/min" });
    const b = route("b", { rate: "5/min" });
    const p = await make({}, [a, b]);
    expect(await countAllowed(p, a, 12, "10.0.0.1")).toBe(5);
    expect(await countAllowed(p, a, 12, "10.0.0.2")).toBe(5);
    expect(await countAllowed(p, b, 12, "10.0.0.1")).toBe(5);
  });

  test("RATE_LIMIT_DEFAULT applies to routes without their own limit", async () => {
    const r = route("dflt");
    const p = await make({ rate_limiting: { default: "3/min" } }, [r]);
    expect(await countAllowed(p, r, 10, "10.0.0.9")).toBe(3);
  });

  test("draft headers on pass, 429 with Retry-After and coded body on limit", async () => {
    const r = route("hdr", { rate: "2/min" });
    const p = await make({}, [r]);
    const first = await send(p, r, "10.1.1.1");
    expect(Object.fromEntries(first.responseHeaders!)).toEqual({ "ratelimit-policy": '"hdr";q=2;w=60', ratelimit: '"hdr";r=1;t=30' });
    await send(p, r, "10.1.1.1");
    const third = await send(p, r, "10.1.1.1");
    expect(third.reject!.status).toBe(429);
    expect(Number(third.reject!.headers.get("retry-after"))).toBeGreaterThanOrEqual(29);
    expect(third.reject!.headers.get("ratelimit")).toBe('"hdr";r=0;t=30');
    expect(((await third.reject!.json()) as any).error.code).toBe("GW_ERR_RATE_LIMITED");
  });

  test("legacy headers when configured", async () => {
    const r = route("leg", { rate: "10/s" });
    const p = await make({ rate_limiting: { headers: "legacy" } }, [r]);
    const d = await send(p, r, "10.1.1.2");
    expect(Object.fromEntries(d.responseHeaders!)).toEqual({ "ratelimit-limit": "10", "ratelimit-remaining": "9", "ratelimit-reset": "1" });
  });

  test("authenticated callers are limited by subject, not by IP", async () => {
    const r = route("sub", { auth: true, rate: "3/min" });
    const p = await make({}, [r]);
    const alice = { authorization: `Bearer ${await token("alice")}` };
    const bob = { authorization: `Bearer ${await token("bob")}` };
    expect(await countAllowed(p, r, 5, "10.2.0.1", alice)).toBe(3);
    expect(await countAllowed(p, r, 5, "10.2.0.2", alice)).toBe(0); // same subject, other IP: same bucket
    expect(await countAllowed(p, r, 5, "10.2.0.1", bob)).toBe(3);
  });

  test("limited requests are counted by policy", async () => {
    const r = route("counted", { rate: "1/min" });
    const ctx = testContext();
    const p = await make({}, [r], ctx);
    await countAllowed(p, r, 4, "10.3.0.1");
    const text = await ctx.metrics.registry.getSingleMetricAsString("tradpal_gateway_ratelimit_limited_total");
    expect(text).toContain('ratelimit_limited_total{policy="counted"} 3');
  });
});

describe("X-Forwarded-For and trusted proxies", () => {
  const r = route("xff", { rate: "3/min" });

  test("spoofed X-Forwarded-For from an untrusted peer does not change the key", async () => {
    const p = await make({ rate_limiting: { trusted_proxies: ["10.9.0.0/16"] } }, [r]);
    let ok = 0;
    for (let i = 0; i < 10; i++) {
      const d = await send(p, r, "203.0.113.7", { "x-forwarded-for": `198.51.100.${i}` });
      if (!d.reject) ok++;
    }
    expect(ok).toBe(3);
  });

  test("a trusted proxy's X-Forwarded-For names the client (rightmost untrusted hop)", async () => {
    const p = await make({ rate_limiting: { trusted_proxies: ["10.9.0.0/16"] } }, [r]);
    // two different clients behind the same proxy get their own buckets
    expect(await countAllowed(p, r, 5, "10.9.1.1", { "x-forwarded-for": "198.51.100.1" })).toBe(3);
    expect(await countAllowed(p, r, 5, "10.9.1.1", { "x-forwarded-for": "198.51.100.2" })).toBe(3);
    // a client prepending a fake hop cannot escape: the proxy appended the real address last
    expect(await countAllowed(p, r, 5, "10.9.1.1", { "x-forwarded-for": "1.2.3.4, 198.51.100.1" })).toBe(0);
    // chains of trusted proxies are walked
    expect(await countAllowed(p, r, 5, "10.9.1.1", { "x-forwarded-for": "198.51.100.3, 10.9.2.2" })).toBe(3);
  });
});

describe("hot reload", () => {
  test("an unchanged policy keeps its counters; a changed one starts fresh", async () => {
    const shared = createSharedPool();
    const r1 = route("reload", { rate: "5/min" });
    const p1 = await make({}, [r1], testContext({}, shared));
    expect(await countAllowed(p1, r1, 3, "10.4.0.1")).toBe(3);
    // reload, same policy
    const p2 = await make({}, [route("reload", { rate: "5/min" })], testContext({}, shared));
    expect(await countAllowed(p2, r1, 5, "10.4.0.1")).toBe(2);
    // reload, new limit: counters for the new numbers
    const r3 = route("reload", { rate: "8/min" });
    const p3 = await make({}, [r3], testContext({}, shared));
    expect(await countAllowed(p3, r3, 10, "10.4.0.1")).toBe(8);
    // the counters of the replaced policy are dropped from the pool (no growth across reloads)
    expect(shared.keys("gateway:edge:rl:reload|")).toEqual(["gateway:edge:rl:reload|8/60000"]);
  });
});

describe("config mistakes", () => {
  test("a bad trusted_proxies entry or store: redis without a url fails provision with a clear message", async () => {
    await expect(make({ rate_limiting: { trusted_proxies: ["10.0.0.0/40"] } }, [])).rejects.toThrow(/prefix length/);
    await expect(make({ rate_limiting: { trusted_proxies: ["localhost"] } }, [])).rejects.toThrow(/not an IP or CIDR/);
    await expect(make({ rate_limiting: { store: "redis" } }, [])).rejects.toThrow(/redis_url/);
  });
});
