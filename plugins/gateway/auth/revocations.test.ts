/**
 * The edge's deny-list of revoked jtis: bounded, pruned after exp, and wired to the bus so a cached
 * token is refused on its very next check (401, reason "revoked", auth_failures_total{reason="revoked"}).
 */
import { afterAll, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { RevocationList } from "./revocations";
import { parseRevocation } from "./revocation-feed";
import { createEdgePolicy } from "../edge-policy/policy";
import { decodeGatewaySettings } from "../schema";
import { decide, route, testContext } from "../test/support";

const SECRET = "revocation-test-" + crypto.randomUUID();
const nowS = () => Math.floor(Date.now() / 1000);

test("RevocationList: listed until exp + skew, expired entries are not added and are pruned", () => {
  const l = new RevocationList(10, 1000);
  const t0 = 1_000_000_000_000;
  expect(l.add("a", t0 / 1000 + 5, t0)).toBe(true);
  expect(l.add("a", t0 / 1000 + 5, t0)).toBe(false); // already there
  expect(l.add("old", t0 / 1000 - 5, t0)).toBe(false); // already expired: nothing to deny
  expect(l.has("a", t0 + 5_500)).toBe(true); // within skew
  expect(l.has("a", t0 + 6_001)).toBe(false);
  expect(l.size).toBe(0); // dropped on that lookup
  expect(l.add("", t0 / 1000 + 5, t0)).toBe(false);
  expect(l.add("x".repeat(300), t0 / 1000 + 5, t0)).toBe(false);
  expect(l.add("nan", Number.NaN, t0)).toBe(false);
});

test("RevocationList: bounded — when full, expired entries go first, then the one expiring soonest", () => {
  const l = new RevocationList(3, 0);
  const t0 = 2_000_000_000_000;
  l.add("short", t0 / 1000 + 1, t0);
  l.add("long1", t0 / 1000 + 100, t0);
  l.add("long2", t0 / 1000 + 100, t0);
  l.add("new", t0 / 1000 + 50, t0 + 10); // full, nothing expired → "short" goes
  expect(l.size).toBe(3);
  expect(l.has("short", t0 + 10)).toBe(false);
  expect(l.has("new", t0 + 10)).toBe(true);
  l.add("later", t0 / 1000 + 100, t0 + 60_000); // "new" has expired by then: pruned, nothing live dropped
  expect(l.has("long1", t0 + 60_000) && l.has("long2", t0 + 60_000) && l.has("later", t0 + 60_000)).toBe(true);
});

test("parseRevocation refuses malformed wire payloads", () => {
  expect(parseRevocation({ jti: "a", exp: 1 })).toEqual({ jti: "a", exp: 1 });
  for (const bad of [null, "x", 1, {}, { jti: "a" }, { jti: 1, exp: 1 }, { jti: "", exp: 1 }, { jti: "a", exp: "1" }]) expect(parseRevocation(bad)).toBeUndefined();
});

const ctx = testContext();
const policy = await createEdgePolicy(decodeGatewaySettings({ auth: { hs256_secret: SECRET }, rate_limiting: { enabled: false } }), ctx, []);
afterAll(() => policy.stop());
const r = route("orders", { auth: true });
const mint = (jti: string | undefined, sub = "alice") =>
  new SignJWT({ sub, iss: "tradpal-gateway", aud: "tradpal", scope: "trade", ...(jti ? { jti } : {}) }).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime(nowS() + 300).sign(new TextEncoder().encode(SECRET));
const req = (tok: string) => new Request("http://gw/orders", { headers: { authorization: `Bearer ${tok}` } });

test("a revoked token is refused on its next check even though it was cached; others still pass", async () => {
  const tok = await mint("jti-1");
  const other = await mint("jti-2");
  const noJti = await mint(undefined, "bob");
  for (const t of [tok, other, noJti]) expect((await decide(policy.check(req(t), r, "10.0.0.1"))).reject).toBeUndefined();
  expect((await decide(policy.check(req(tok), r, "10.0.0.1"))).reject).toBeUndefined(); // a cache hit now

  ctx.bus.emit("token.revoked", { jti: "jti-1", exp: nowS() + 300, subject: "alice" });
  const d = await decide(policy.check(req(tok), r, "10.0.0.1"));
  expect(d.reject?.status).toBe(401);
  const body = (await d.reject!.json()) as any;
  expect(body.error.code).toBe("GW_ERR_AUTH_INVALID");
  expect(d.reject!.headers.get("www-authenticate")).toContain('error_description="revoked"');
  expect((await decide(policy.check(req(tok), r, "10.0.0.1"))).reject?.status).toBe(401); // stays refused
  expect((await decide(policy.check(req(other), r, "10.0.0.1"))).reject).toBeUndefined();
  expect((await decide(policy.check(req(noJti), r, "10.0.0.1"))).reject).toBeUndefined();

  const metrics = await ctx.metrics.registry.metrics();
  expect(metrics).toMatch(/tradpal_gateway_auth_failures_total\{reason="revoked"\} 2/);
  const h = policy.health() as any;
  expect(h.auth.revoked.entries).toBeGreaterThanOrEqual(1);
});

test("a jti revoked before its token is ever seen is refused on the first (uncached) check", async () => {
  ctx.bus.emit("token.revoked", { jti: "jti-early", exp: nowS() + 300 });
  const tok = await mint("jti-early");
  expect((await decide(policy.check(req(tok), r, "10.0.0.2"))).reject?.status).toBe(401);
});

test("a token cached under two header spellings is evicted under both; the jti index survives its rebuilds", async () => {
  const small = testContext();
  const p = await createEdgePolicy(decodeGatewaySettings({ auth: { hs256_secret: SECRET, cache_size: 2 }, rate_limiting: { enabled: false } }), small, []);
  try {
    const tok = await mint("jti-spell");
    const spellings = [`Bearer ${tok}`, `bearer ${tok}`];
    const reqWith = (h: string) => new Request("http://gw/orders", { headers: { authorization: h } });
    for (const h of spellings) expect((await decide(p.check(reqWith(h), r, "10.0.0.3"))).reject).toBeUndefined();
    small.bus.emit("token.revoked", { jti: "jti-spell", exp: nowS() + 300 });
    for (const h of spellings) expect((await decide(p.check(reqWith(h), r, "10.0.0.3"))).reject?.status).toBe(401);

    // Many distinct tokens through a 2-entry cache: the index is rebuilt several times and stays correct.
    const toks = await Promise.all(Array.from({ length: 40 }, (_, i) => mint(`churn-${i}`)));
    for (const t of toks) expect((await decide(p.check(req(t), r, "10.0.0.3"))).reject).toBeUndefined();
    const last = toks[toks.length - 1];
    expect((await decide(p.check(req(last), r, "10.0.0.3"))).reject).toBeUndefined(); // cached
    small.bus.emit("token.revoked", { jti: "churn-39", exp: nowS() + 300 });
    expect((await decide(p.check(req(last), r, "10.0.0.3"))).reject?.status).toBe(401);
    expect((await decide(p.check(req(toks[38]), r, "10.0.0.3"))).reject).toBeUndefined();
  } finally {
    await p.stop();
  }
});
