/**
 * Tokens over HTTP: minting within the scopes config allows, validation answers claims or the reason,
 * the attack list is refused, rotation keeps old tokens valid, revocation (jti deny-list), authorization.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, createPublicKey, verify } from "node:crypto";
import { startSecurity, type SecurityHarness } from "./support";

let s: SecurityHarness;
beforeAll(async () => {
  s = await startSecurity(`
strict_services: true
services:
  trading_service: { scopes: [read, trade] }
  gateway: { scopes: [read] }
  ops: { admin: true }
tokens:
  ttl: 10m
  max_ttl: 1h
`);
});
afterAll(async () => { await s?.stop(); });

async function mint(service: string, body: unknown = {}, token?: string) {
  return fetch(`${s.base}/tokens/${service}`, { method: "POST", headers: s.auth(token), body: JSON.stringify(body) });
}
async function validate(token: string, caller?: string, audience?: string) {
  const r = await fetch(`${s.base}/tokens/validate`, { method: "POST", headers: s.auth(caller), body: JSON.stringify({ token, ...(audience ? { audience } : {}) }) });
  return { status: r.status, body: await r.json(), rid: r.headers.get("x-request-id") };
}
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("minting", () => {
  test("a token carries the requested scopes, a kid, exp from ttl, and verifies against the JWKS", async () => {
    const r = await mint("trading_service", { scopes: ["read", "trade"], ttl: "15m" });
    expect(r.status).toBe(201);
    const body = await r.json();
    expect(body.scopes).toEqual(["read", "trade"]);
    expect(body.expires_in).toBe(900);
    const [h, p, sig] = body.token.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url").toString());
    expect(header).toMatchObject({ alg: "ES256", kid: body.kid });
    const jwks = await (await fetch(`${s.base}/.well-known/jwks.json`)).json();
    const jwk = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
    const ok = verify("sha256", Buffer.from(`${h}.${p}`), { key: createPublicKey({ key: jwk, format: "jwk" }), dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url"));
    expect(ok).toBe(true);
  });

  test("ttl is capped at max_ttl; no scopes asked → all allowed ones", async () => {
    const body = await (await mint("gateway", { ttl: "5h" })).json();
    expect(body.expires_in).toBe(3600);
    expect(body.scopes).toEqual(["read"]);
  });

  test("scopes beyond what config allows → 403 SEC_ERR_SCOPE_NOT_ALLOWED naming them", async () => {
    const r = await mint("gateway", { scopes: ["read", "trade"] });
    expect(r.status).toBe(403);
    const e = (await r.json()).error;
    expect(e.code).toBe("SEC_ERR_SCOPE_NOT_ALLOWED");
    expect(e.message).toContain("trade");
  });

  test("strict_services: an unlisted service gets no token (403 SEC_ERR_UNKNOWN_SERVICE)", async () => {
    const r = await mint("stranger");
    expect(r.status).toBe(403);
    expect((await r.json()).error.code).toBe("SEC_ERR_UNKNOWN_SERVICE");
  });

  test("malformed bodies are coded 400s", async () => {
    for (const body of [{ scopes: "read" }, { scopes: [1] }, { ttl: "soon" }, { ttl: -5 }, { extra: true }, [1]]) {
      const r = await mint("trading_service", body);
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toMatch(/^SEC_ERR_(BAD_BODY|VALIDATION)$/);
    }
    const notJson = await fetch(`${s.base}/tokens/trading_service`, { method: "POST", headers: s.auth(), body: "{nope" });
    expect(notJson.status).toBe(400);
  });

  test("a service may refresh its own token but not mint another service's; an admin-granted service may", async () => {
    const own = (await (await mint("gateway")).json()).token;
    expect((await mint("gateway", {}, own)).status).toBe(201);
    const other = await mint("trading_service", {}, own);
    expect(other.status).toBe(403);
    expect((await other.json()).error.code).toBe("SEC_ERR_FORBIDDEN");
    const ops = (await (await mint("ops")).json()).token;
    expect((await mint("trading_service", {}, ops)).status).toBe(201);
  });
});

describe("validation", () => {
  test("a valid token answers its claims (cached on the second call), with the request id echoed", async () => {
    const { token } = await (await mint("trading_service", { scopes: ["read"] })).json();
    for (let i = 0; i < 2; i++) {
      const v = await validate(token);
      expect(v.status).toBe(200);
      expect(v.body.valid).toBe(true);
      expect(v.body.claims).toMatchObject({ sub: "trading_service", scopes: ["read"], iss: "tradpal-security", aud: "tradpal" });
      expect(v.rid).toBeTruthy();
    }
  });

  test("the attack list is refused with a reason: alg none, HS256 key confusion, unknown kid, missing exp, tampering, wrong audience", async () => {
    const { token, kid } = await (await mint("trading_service", { scopes: ["read"] })).json();
    const [h, p] = token.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const jwks = await (await fetch(`${s.base}/.well-known/jwks.json`)).json();
    const pem = createPublicKey({ key: jwks.keys[0], format: "jwk" }).export({ format: "pem", type: "spki" });
    const hsInput = `${b64({ alg: "HS256", typ: "JWT", kid })}.${p}`;
    const cases: [string, string][] = [
      [`${b64({ alg: "none", typ: "JWT", kid })}.${p}.x`, "alg_not_allowed"],
      [`${hsInput}.${createHmac("sha256", pem).update(hsInput).digest("base64url")}`, "alg_not_allowed"],
      [`${b64({ alg: "ES256", typ: "JWT", kid: "unknown" })}.${p}.${token.split(".")[2]}`, "unknown_kid"],
      [`${h}.${b64({ ...claims, exp: undefined })}.${token.split(".")[2]}`, "bad_signature"],
      [`${h}.${b64({ ...claims, scopes: ["read", "trade"] })}.${token.split(".")[2]}`, "bad_signature"],
      ["garbage", "malformed"],
    ];
    for (const [t, reason] of cases) {
      const v = await validate(t);
      expect(v.status).toBe(200);
      expect(v.body).toMatchObject({ valid: false, reason });
    }
    expect((await validate(token, undefined, "someone-else")).body).toMatchObject({ valid: false, reason: "bad_audience" });
  });

  test("validate needs a caller token and a JSON body { token }", async () => {
    const anon = await fetch(`${s.base}/tokens/validate`, { method: "POST", body: JSON.stringify({ token: "x" }) });
    expect(anon.status).toBe(401);
    expect((await anon.json()).error.code).toBe("SEC_ERR_UNAUTHENTICATED");
    for (const body of ["", "nope", "{}", JSON.stringify({ token: 5 }), JSON.stringify({ token: "a", audience: 3 })]) {
      const r = await fetch(`${s.base}/tokens/validate`, { method: "POST", headers: s.auth(), body });
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toBe("SEC_ERR_BAD_BODY");
    }
    const huge = await fetch(`${s.base}/tokens/validate`, { method: "POST", headers: s.auth(), body: JSON.stringify({ token: "a".repeat(20_000) }) });
    expect(huge.status).toBe(413);
  });

  test("a service token may call validate (the gateway's use)", async () => {
    const gw = (await (await mint("gateway")).json()).token;
    const { token } = await (await mint("trading_service")).json();
    expect((await validate(token, gw)).body.valid).toBe(true);
  });
});

describe("rotation and revocation", () => {
  test("after rotation the new key signs and tokens of the old key still validate; JWKS lists both", async () => {
    const old = await (await mint("trading_service")).json();
    expect((await validate(old.token)).body.valid).toBe(true);
    const rot = await fetch(`${s.base}/tokens/rotate`, { method: "POST", headers: s.auth() });
    expect(rot.status).toBe(200);
    const { signing_kid } = await rot.json();
    expect(signing_kid).not.toBe(old.kid);
    const fresh = await (await mint("trading_service")).json();
    expect(fresh.kid).toBe(signing_kid);
    expect((await validate(old.token)).body.valid).toBe(true);
    expect((await validate(fresh.token)).body.valid).toBe(true);
    const kids = (await (await fetch(`${s.base}/.well-known/jwks.json`)).json()).keys.map((k: { kid: string }) => k.kid);
    expect(kids).toContain(old.kid);
    expect(kids).toContain(signing_kid);
  });

  test("a revoked token is refused from then on (also when it was cached) and cannot authenticate", async () => {
    const t = await (await mint("gateway")).json();
    expect((await validate(t.token)).body.valid).toBe(true);
    const r = await fetch(`${s.base}/tokens/revoke`, { method: "POST", headers: s.auth(), body: JSON.stringify({ token: t.token }) });
    expect(r.status).toBe(200);
    expect((await validate(t.token)).body).toMatchObject({ valid: false, reason: "revoked" });
    const use = await fetch(`${s.base}/credentials/gateway`, { headers: s.auth(t.token) });
    expect(use.status).toBe(401);
  });

  test("only the administrator rotates or revokes", async () => {
    const gw = (await (await mint("gateway")).json()).token;
    expect((await fetch(`${s.base}/tokens/rotate`, { method: "POST", headers: s.auth(gw) })).status).toBe(403);
    expect((await fetch(`${s.base}/tokens/revoke`, { method: "POST", headers: s.auth(gw), body: JSON.stringify({ jti: "x" }) })).status).toBe(403);
  });
});

test("grants apply on a config reload without touching keys: a scope added in config can be minted, kids unchanged", async () => {
  const r = await startSecurity(`services:\n  svc: { scopes: [read] }`);
  try {
    const mintTrade = () => fetch(`${r.base}/tokens/svc`, { method: "POST", headers: r.auth(), body: JSON.stringify({ scopes: ["trade"] }) });
    expect((await mintTrade()).status).toBe(403);
    const kids = (await (await fetch(`${r.base}/.well-known/jwks.json`)).json()).keys.map((k: { kid: string }) => k.kid);
    const outcome = await r.t.rewrite(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
plugins:
  security:
    port: 0
    services:
      svc: { scopes: [read, trade] }
`);
    expect(outcome.ok).toBe(true);
    const base = r.t.url("security");
    const ok = await fetch(`${base}/tokens/svc`, { method: "POST", headers: r.auth(), body: JSON.stringify({ scopes: ["trade"] }) });
    expect(ok.status).toBe(201);
    expect((await (await fetch(`${base}/.well-known/jwks.json`)).json()).keys.map((k: { kid: string }) => k.kid)).toEqual(kids);
  } finally {
    await r.stop();
  }
});
