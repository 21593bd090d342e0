/**
 * The JWT attack suite: every forged, stale or foreign token is a 401 (with WWW-Authenticate), valid
 * tokens minted by an independent library (jose) are accepted — HS256 with the secret, ES256 and RS256
 * with keys served from a real JWKS endpoint, including a key rotated in after start.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey } from "jose";
import { createHmac } from "node:crypto";
import { createEdgePolicy } from "../edge-policy/policy";
import { decodeGatewaySettings } from "../schema";
import { route, testContext, decide } from "../test/support";
import type { EdgePolicy } from "../edge-policy/contract";

const SECRET = "attack-suite-secret-" + crypto.randomUUID();
const ISS = "tradpal-gateway";
const JWKS_ISS = "tradpal-security";
const AUD = "tradpal";
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");

let es: { publicKey: CryptoKey; privateKey: CryptoKey };
let rs: { publicKey: CryptoKey; privateKey: CryptoKey };
let rotated: { publicKey: CryptoKey; privateKey: CryptoKey };
let jwks: { keys: Record<string, unknown>[] } = { keys: [] };
let jwksFetches = 0;
let jwksServer: ReturnType<typeof Bun.serve>;
let policy: EdgePolicy;
const ctx = testContext();
const protectedRoute = route("orders", { auth: true, scopes: ["trade"] });
const readRoute = route("quotes", { auth: true, scopes: [] });

function mint(claims: Record<string, unknown> = {}, opts: { alg?: string; kid?: string; key?: CryptoKey | Uint8Array } = {}) {
  const t = now();
  const body = { sub: "alice", scope: "trade read", iss: (opts.alg ?? "HS256") === "HS256" ? ISS : JWKS_ISS, aud: AUD, iat: t, exp: t + 300, ...claims };
  for (const k of Object.keys(body)) if ((body as any)[k] === undefined) delete (body as any)[k];
  const alg = opts.alg ?? "HS256";
  return new SignJWT(body).setProtectedHeader({ alg, ...(opts.kid ? { kid: opts.kid } : {}) }).sign(opts.key ?? new TextEncoder().encode(SECRET));
}

/** A token signed by hand with HMAC-SHA256 over an arbitrary key (jose refuses to do the confusion attack). */
function hmacToken(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

async function call(token: string | undefined, r = protectedRoute) {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const d = await decide(policy.check(new Request("http://gw/orders", { headers }), r, "127.0.0.1"));
  return d;
}

async function expect401(token: string | undefined, reasonInHeader?: string) {
  const d = await call(token);
  expect(d.reject).toBeDefined();
  expect(d.reject!.status).toBe(401);
  const www = d.reject!.headers.get("www-authenticate")!;
  expect(www).toStartWith("Bearer");
  const body = (await d.reject!.json()) as any;
  expect(body.error.code).toMatch(/^GW_ERR_AUTH_/);
  if (reasonInHeader) expect(www).toContain(reasonInHeader);
}

beforeAll(async () => {
  es = await generateKeyPair("ES256", { extractable: true });
  rs = await generateKeyPair("RS256", { extractable: true });
  rotated = await generateKeyPair("ES256", { extractable: true });
  jwks.keys = [
    { ...(await exportJWK(es.publicKey)), kid: "es-1", use: "sig", alg: "ES256" },
    { ...(await exportJWK(rs.publicKey)), kid: "rs-1", use: "sig" },
  ];
  jwksServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => { jwksFetches++; return Response.json(jwks); } });
  const settings = decodeGatewaySettings({
    auth: { hs256_secret: SECRET, jwks_url: `http://127.0.0.1:${jwksServer.port}/.well-known/jwks.json`, jwks_min_refetch: "0ms", issuer: ISS, jwks_issuer: JWKS_ISS, audience: AUD, clock_skew: "30s", max_token_bytes: "2kb" },
    rate_limiting: { enabled: false },
  });
  policy = await createEdgePolicy(settings, ctx, [protectedRoute, readRoute]);
});

afterAll(async () => {
  await policy?.stop();
  jwksServer?.stop(true);
});

describe("valid tokens from jose are accepted", () => {
  test("HS256 with the shared secret", async () => {
    const d = await call(await mint());
    expect(d.reject).toBeUndefined();
    expect(d.principal).toMatchObject({ subject: "alice", via: "jwt" });
    expect([...d.principal!.scopes].sort()).toEqual(["read", "trade"]);
  });
  test("ES256 from the JWKS", async () => {
    expect((await call(await mint({}, { alg: "ES256", kid: "es-1", key: es.privateKey }))).reject).toBeUndefined();
  });
  test("RS256 from the JWKS", async () => {
    expect((await call(await mint({}, { alg: "RS256", kid: "rs-1", key: rs.privateKey }))).reject).toBeUndefined();
  });
  test("exp slightly in the past is within the clock skew", async () => {
    expect((await call(await mint({ exp: now() - 5 }))).reject).toBeUndefined();
  });
  test("aud as an array containing ours", async () => {
    expect((await call(await mint({ aud: ["other", AUD] }))).reject).toBeUndefined();
  });
  test("a repeated token is answered from the cache, synchronously", async () => {
    const tok = await mint({ sub: "cache-user" });
    await call(tok);
    const r = policy.check(new Request("http://gw/", { headers: { authorization: `Bearer ${tok}` } }), protectedRoute, "127.0.0.1");
    expect(r instanceof Promise).toBe(false);
    const text = await ctx.metrics.registry.getSingleMetricAsString("tradpal_gateway_token_cache_requests_total");
    expect(text).toMatch(/result="hit"\} [1-9]/);
  });
});

describe("attacks: every one is a 401", () => {
  test("missing token → 401 with WWW-Authenticate, code GW_ERR_AUTH_MISSING", async () => {
    const d = await call(undefined);
    expect(d.reject!.status).toBe(401);
    expect(d.reject!.headers.get("www-authenticate")).toBe('Bearer realm="tradpal"');
    expect(((await d.reject!.json()) as any).error.code).toBe("GW_ERR_AUTH_MISSING");
  });
  for (const alg of ["none", "None", "NONE", "nOnE"]) {
    test(`alg "${alg}" (unsigned)`, async () => {
      await expect401(`${b64({ alg, typ: "JWT" })}.${b64({ sub: "alice", scope: "trade", iss: ISS, aud: AUD, exp: now() + 300 })}.`);
      await expect401(`${b64({ alg, typ: "JWT" })}.${b64({ sub: "alice", scope: "trade", iss: ISS, aud: AUD, exp: now() + 300 })}`);
    });
  }
  test("HS256 signed with the RS256 public key (algorithm confusion)", async () => {
    const pem = await exportSPKI(rs.publicKey);
    const claims = { sub: "mallory", scope: "trade", iss: ISS, aud: AUD, exp: now() + 300 };
    await expect401(hmacToken({ alg: "HS256", kid: "rs-1" }, claims, pem), "signature");
    await expect401(hmacToken({ alg: "HS256", kid: "rs-1" }, claims, pem.trim()), "signature");
  });
  test("HS256 signed with the ES256 public key (JWK JSON and PEM)", async () => {
    const claims = { sub: "mallory", scope: "trade", iss: ISS, aud: AUD, exp: now() + 300 };
    await expect401(hmacToken({ alg: "HS256", kid: "es-1" }, claims, await exportSPKI(es.publicKey)));
    await expect401(hmacToken({ alg: "HS256", kid: "es-1" }, claims, JSON.stringify(jwks.keys[0])));
  });
  test("an RS256 token claiming an ES256 kid (key decides the algorithm)", async () => {
    await expect401(await mint({}, { alg: "RS256", kid: "es-1", key: rs.privateKey }), "alg");
  });
  test("tampered payload (scope escalated, signature kept)", async () => {
    const tok = await mint({ scope: "read" });
    const [h, , s] = tok.split(".");
    await expect401(`${h}.${b64({ sub: "alice", scope: "trade admin", iss: ISS, aud: AUD, iat: now(), exp: now() + 300 })}.${s}`, "signature");
    const es256 = await mint({ scope: "read" }, { alg: "ES256", kid: "es-1", key: es.privateKey });
    const [h2, , s2] = es256.split(".");
    await expect401(`${h2}.${b64({ sub: "root", scope: "trade", iss: ISS, aud: AUD, exp: now() + 300 })}.${s2}`, "signature");
  });
  test("expired (beyond the skew) → GW_ERR_AUTH_EXPIRED", async () => {
    const d = await call(await mint({ iat: now() - 7200, exp: now() - 3600 }));
    expect(d.reject!.status).toBe(401);
    expect(((await d.reject!.json()) as any).error.code).toBe("GW_ERR_AUTH_EXPIRED");
  });
  test("not yet valid (nbf in the future)", async () => {
    await expect401(await mint({ nbf: now() + 3600 }), "not_yet_valid");
  });
  test("issued in the future (iat beyond the skew)", async () => {
    await expect401(await mint({ iat: now() + 3600 }), "iat");
  });
  test("wrong issuer", async () => { await expect401(await mint({ iss: "evil" }), "issuer"); });
  test("missing issuer", async () => { await expect401(await mint({ iss: undefined }), "issuer"); });
  test("issuer bound to the key source: a JWKS token with our HS256 issuer, an HS256 token with the JWKS issuer", async () => {
    await expect401(await mint({ iss: ISS }, { alg: "ES256", kid: "es-1", key: es.privateKey }), "issuer");
    await expect401(await mint({ iss: JWKS_ISS }), "issuer");
  });
  test("wrong audience", async () => { await expect401(await mint({ aud: "other" }), "audience"); });
  test("missing exp", async () => { await expect401(await mint({ exp: undefined }), "no_exp"); });
  test("unknown kid (the JWKS is re-fetched, the kid still does not resolve)", async () => {
    const before = jwksFetches;
    await expect401(await mint({}, { alg: "ES256", kid: "nobody", key: es.privateKey }), "kid");
    expect(jwksFetches).toBeGreaterThan(before);
  });
  test("asymmetric token without a kid", async () => {
    await expect401(await mint({}, { alg: "ES256", key: es.privateKey }), "kid");
  });
  test("ES256 signed by a key that is not in the JWKS but reuses a known kid", async () => {
    await expect401(await mint({}, { alg: "ES256", kid: "es-1", key: rotated.privateKey }), "signature");
  });
  test("oversized token (beyond max_token_bytes), refused before parsing", async () => {
    await expect401(await mint({ pad: "x".repeat(3000) }), "oversized");
  });
  test("minted with a different secret", async () => {
    await expect401(await mint({}, { key: new TextEncoder().encode("another-secret") }), "signature");
  });
  test("garbage: not three parts, bad base64, non-JSON header, wrong scheme", async () => {
    await expect401("abc");
    await expect401("a.b.c.d");
    await expect401("!!!.e30.sig");
    await expect401(`${b64("not json")}.${b64({})}.sig`);
    const d = await decide(policy.check(new Request("http://gw/", { headers: { authorization: "Basic YWxpY2U6cHc=" } }), protectedRoute, "127.0.0.1"));
    expect(d.reject!.status).toBe(401);
  });
  test("unsupported algorithms (HS512, PS256)", async () => {
    await expect401(await mint({}, { alg: "HS512", key: new TextEncoder().encode(SECRET + SECRET + SECRET) }), "alg");
  });
  test("auth failures are counted by reason", async () => {
    const text = await ctx.metrics.registry.getSingleMetricAsString("tradpal_gateway_auth_failures_total");
    for (const reason of ["missing", "signature", "expired", "issuer", "audience", "kid", "oversized", "no_exp", "alg"]) {
      expect(text).toContain(`reason="${reason}"`);
    }
  });
});

describe("scopes", () => {
  test("a valid token without the route's scope → 403 insufficient_scope", async () => {
    const d = await call(await mint({ scope: "read" }));
    expect(d.reject!.status).toBe(403);
    expect(d.reject!.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    expect(d.reject!.headers.get("www-authenticate")).toContain('scope="trade"');
    expect(((await d.reject!.json()) as any).error.code).toBe("GW_ERR_FORBIDDEN");
  });
  test("roles / scp arrays count as scopes", async () => {
    expect((await call(await mint({ scope: undefined, roles: ["trade"] }))).reject).toBeUndefined();
    expect((await call(await mint({ scope: undefined, scp: ["trade"] }))).reject).toBeUndefined();
  });
  test("a route without required scopes accepts any valid token", async () => {
    expect((await call(await mint({ scope: undefined }), readRoute)).reject).toBeUndefined();
  });
});

describe("key rotation", () => {
  test("a new kid published after start is fetched on first sight and accepted", async () => {
    jwks.keys = [...jwks.keys, { ...(await exportJWK(rotated.publicKey)), kid: "es-2", use: "sig" }];
    const tok = await mint({}, { alg: "ES256", kid: "es-2", key: rotated.privateKey });
    const r = policy.check(new Request("http://gw/", { headers: { authorization: `Bearer ${tok}` } }), protectedRoute, "127.0.0.1");
    expect(r instanceof Promise).toBe(true); // had to wait for the JWKS
    expect((await r).reject).toBeUndefined();
    // and the old key still works: rotation without downtime
    expect((await call(await mint({ sub: "bob" }, { alg: "ES256", kid: "es-1", key: es.privateKey }))).reject).toBeUndefined();
  });
});
