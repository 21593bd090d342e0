/** The token verifier against the attack list (alg none, HS256 key confusion, unknown kid, missing exp...) and rotation. */
import { describe, expect, test } from "bun:test";
import { createHmac, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signJwt, verifyJwt, type JwtClaims } from "./jwt";
import { createKeyRing } from "./keyring";
import { createTokenService } from "./service";
import { createSealBox } from "../crypto-box";

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const KID = "k1";
const now = Math.floor(Date.now() / 1000);
const base: JwtClaims = { iss: "iss", sub: "orders", aud: "tradpal", iat: now, nbf: now, exp: now + 600, jti: "j1" };
const opts = { key: (kid: string) => (kid === KID ? publicKey : undefined), issuer: "iss", audience: "tradpal", skewS: 30, maxLength: 8192 };
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const reason = (t: string) => { const v = verifyJwt(t, opts); return v.ok ? "ok" : v.reason; };

describe("verifyJwt", () => {
  test("a well-formed ES256 token verifies and returns its claims", () => {
    const v = verifyJwt(signJwt(base, KID, privateKey), opts);
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.claims.sub).toBe("orders");
  });

  test("alg none is refused", () => {
    expect(reason(`${b64({ alg: "none", typ: "JWT", kid: KID })}.${b64(base)}.`)).toBe("malformed");
    expect(reason(`${b64({ alg: "none", typ: "JWT", kid: KID })}.${b64(base)}.AAAA`)).toBe("alg_not_allowed");
  });

  test("HS256 signed with the public key as HMAC secret (key confusion) is refused", () => {
    const pem = publicKey.export({ format: "pem", type: "spki" });
    const input = `${b64({ alg: "HS256", typ: "JWT", kid: KID })}.${b64(base)}`;
    const sig = createHmac("sha256", pem).update(input).digest("base64url");
    expect(reason(`${input}.${sig}`)).toBe("alg_not_allowed");
  });

  test("unknown or missing kid is refused", () => {
    expect(reason(signJwt(base, "other", privateKey))).toBe("unknown_kid");
    const input = `${b64({ alg: "ES256", typ: "JWT" })}.${b64(base)}`;
    expect(reason(`${input}.${"A".repeat(86)}`)).toBe("unknown_kid");
  });

  test("a token signed by another key with our kid fails the signature", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect(reason(signJwt(base, KID, other))).toBe("bad_signature");
  });

  test("a tampered payload fails the signature", () => {
    const [h, , s] = signJwt(base, KID, privateKey).split(".");
    expect(reason(`${h}.${b64({ ...base, sub: "admin" })}.${s}`)).toBe("bad_signature");
  });

  test("missing exp, expired, not yet valid, iat in the future are refused", () => {
    const { exp, ...noExp } = base;
    void exp;
    expect(reason(signJwt(noExp as JwtClaims, KID, privateKey))).toBe("missing_exp");
    expect(reason(signJwt({ ...base, exp: now - 120 }, KID, privateKey))).toBe("expired");
    expect(reason(signJwt({ ...base, nbf: now + 600 }, KID, privateKey))).toBe("not_yet_valid");
    expect(reason(signJwt({ ...base, iat: now + 600 }, KID, privateKey))).toBe("issued_in_future");
  });

  test("clock skew: a token expired 10s ago still passes with 30s skew", () => {
    expect(reason(signJwt({ ...base, exp: now - 10 }, KID, privateKey))).toBe("ok");
  });

  test("wrong issuer or audience is refused", () => {
    expect(reason(signJwt({ ...base, iss: "evil" }, KID, privateKey))).toBe("bad_issuer");
    expect(reason(signJwt({ ...base, aud: "other" }, KID, privateKey))).toBe("bad_audience");
    expect(reason(signJwt({ ...base, aud: ["other", "tradpal"] }, KID, privateKey))).toBe("ok");
  });

  test("malformed inputs are refused without throwing", () => {
    for (const t of ["", "a", "a.b", "a.b.c.d", "!!!.b.c", `${b64([1])}.${b64(base)}.AA`, `${Buffer.from("{").toString("base64url")}.x.y`, `${b64({ alg: "ES256", kid: KID, crit: ["x"] })}.${b64(base)}.AA`]) {
      expect(reason(t)).toBe("malformed");
    }
    expect(reason("a".repeat(9000))).toBe("too_long");
  });
});

describe("key ring and token service", () => {
  test("rotation: the new key signs, tokens of the old key still verify; revoked jti is refused even when cached", () => {
    const dir = mkdtempSync(join(tmpdir(), "sec-ring-"));
    const box = createSealBox(randomBytes(32), "created");
    const ring = createKeyRing(join(dir, "keys"), box);
    const svc = createTokenService(ring, { issuer: "i", audience: "a", ttlMs: 60_000, maxTtlMs: 3_600_000, skewMs: 30_000, cacheSize: 100, maxLength: 8192 }, join(dir, "deny.json"));
    const first = svc.mint("orders", ["read"]);
    expect(svc.validate(first.token).valid).toBe(true);
    // Cached for the default audience; asked for another, it is checked again (not answered from the cache).
    expect(svc.validate(first.token, "someone-else")).toMatchObject({ valid: false, reason: "bad_audience" });
    ring.maintain({ rotateEveryMs: 1e12, maxTtlMs: 3_600_000, skewMs: 30_000, force: true });
    const second = svc.mint("orders", ["read"]);
    expect(second.kid).not.toBe(first.kid);
    expect(JSON.parse(ring.jwksJson()).keys.map((k: { kid: string }) => k.kid).sort()).toEqual([first.kid, second.kid].sort());
    // A fresh service (no cache) verifies the old token through the retired key.
    const fresh = createTokenService(ring, { issuer: "i", audience: "a", ttlMs: 60_000, maxTtlMs: 3_600_000, skewMs: 30_000, cacheSize: 0, maxLength: 8192 }, join(dir, "deny.json"));
    expect(fresh.validate(first.token).valid).toBe(true);
    // After max_ttl the retired key is pruned.
    ring.maintain({ rotateEveryMs: 1e12, maxTtlMs: -60_000, skewMs: 0 });
    expect(ring.kids()).toEqual([second.kid]);
    expect(fresh.validate(first.token)).toMatchObject({ valid: false, reason: "unknown_kid" });
    // Revocation beats the cache.
    expect(svc.validate(second.token).valid).toBe(true);
    svc.revoke(second.claims.jti, second.claims.exp);
    expect(svc.validate(second.token)).toMatchObject({ valid: false, reason: "revoked" });
    // Keys survive a restart (same kids from the sealed file).
    expect(createKeyRing(join(dir, "keys"), box).kids()).toEqual([second.kid]);
  });

  test("the cache is bounded", () => {
    const dir = mkdtempSync(join(tmpdir(), "sec-ring-"));
    const ring = createKeyRing(join(dir, "keys"), createSealBox(randomBytes(32), "created"));
    const svc = createTokenService(ring, { issuer: "i", audience: "a", ttlMs: 60_000, maxTtlMs: 3_600_000, skewMs: 30_000, cacheSize: 5, maxLength: 8192 }, join(dir, "deny.json"));
    for (let i = 0; i < 20; i++) svc.validate(svc.mint(`s${i}`, []).token);
    expect(svc.cacheSize()).toBe(5);
  });
});

test("the cache evicts the least recently used token", () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-ring-"));
  const ring = createKeyRing(join(dir, "keys"), createSealBox(randomBytes(32), "created"));
  let verifies = 0;
  const counting = { ...ring, verifier: (kid: string) => { verifies++; return ring.verifier(kid); } };
  const svc = createTokenService(counting, { issuer: "i", audience: "a", ttlMs: 60_000, maxTtlMs: 3_600_000, skewMs: 30_000, cacheSize: 2, maxLength: 8192 }, join(dir, "deny.json"));
  const [a, b, c] = ["a", "b", "c"].map((s) => svc.mint(s, []).token);
  svc.validate(a); svc.validate(b); // cache: a, b
  svc.validate(a);                  // hit; a is now the most recent: b, a
  svc.validate(c);                  // evicts b: a, c
  const before = verifies;
  svc.validate(a);
  expect(verifies).toBe(before);    // a was still cached
  svc.validate(b);
  expect(verifies).toBe(before + 1); // b had been evicted
});
