/**
 * A client that keeps presenting bad credentials is refused (429) before any signature check, per
 * client IP; cached valid tokens from the same address still pass; other clients are unaffected.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { createEdgePolicy } from "../edge-policy/policy";
import { decodeGatewaySettings } from "../schema";
import { route, testContext, decide } from "../test/support";
import type { EdgePolicy } from "../edge-policy/contract";

const SECRET = "throttle-secret-" + crypto.randomUUID();
const r = route("orders", { auth: true });
const open: EdgePolicy[] = [];
afterEach(async () => { for (const p of open.splice(0)) await p.stop(); });

const good = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setIssuer("tradpal-gateway").setAudience("tradpal").setExpirationTime("5m").sign(new TextEncoder().encode(SECRET));
const bad = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setIssuer("tradpal-gateway").setAudience("tradpal").setExpirationTime("5m").sign(new TextEncoder().encode("wrong-secret"));

async function make(rate: string, ctx = testContext()) {
  const p = await createEdgePolicy(decodeGatewaySettings({ auth: { hs256_secret: SECRET }, rate_limiting: { enabled: false, auth_failures_per_ip: rate, trusted_proxies: [] } }), ctx, [r]);
  open.push(p);
  return p;
}
const send = (p: EdgePolicy, tok: string, peer: string, headers: Record<string, string> = {}) =>
  decide(p.check(new Request("http://localhost/", { headers: { authorization: `Bearer ${tok}`, ...headers } }), r, peer));

describe("auth failure throttle", () => {
  test("after the allowance, bad tokens from that IP get 429 without verification; cached good tokens pass; others unaffected", async () => {
    const ctx = testContext();
    const p = await make("5/min", ctx);
    const cached = await good("alice");
    expect((await send(p, cached, "203.0.113.9")).reject).toBeUndefined(); // now in the cache
    for (let i = 0; i < 5; i++) expect((await send(p, await bad(`m${i}`), "203.0.113.9")).reject!.status).toBe(401);
    const refused = await send(p, await bad("m9"), "203.0.113.9");
    expect(refused.reject!.status).toBe(429);
    expect(refused.reject!.headers.get("retry-after")).toBe("12");
    expect(((await refused.reject!.json()) as any).error.code).toBe("GW_ERR_AUTH_THROTTLED");
    // spoofing X-Forwarded-For from an untrusted peer does not reset it
    expect((await send(p, await bad("m10"), "203.0.113.9", { "x-forwarded-for": "198.51.100.1" })).reject!.status).toBe(429);
    // bad API keys count too and are refused the same way
    const apiKey = await decide(p.check(new Request("http://localhost/", { headers: { "x-api-key": "nope" } }), r, "203.0.113.9"));
    expect(apiKey.reject!.status).toBe(429);
    // the cached valid token of that address still passes; an uncached one waits like the rest
    expect((await send(p, cached, "203.0.113.9")).reject).toBeUndefined();
    expect((await send(p, await good("bob"), "203.0.113.9")).reject!.status).toBe(429);
    // another client is unaffected
    expect((await send(p, await bad("x"), "203.0.113.10")).reject!.status).toBe(401);
    expect((await send(p, await good("carol"), "203.0.113.10")).reject).toBeUndefined();
    expect(await ctx.metrics.registry.getSingleMetricAsString("tradpal_gateway_auth_failures_total")).toContain('reason="throttled"');
  });

  test("0 disables the throttle", async () => {
    const p = await make("0");
    for (let i = 0; i < 80; i++) expect((await send(p, await bad(`z${i}`), "203.0.113.11")).reject!.status).toBe(401);
  });
});
