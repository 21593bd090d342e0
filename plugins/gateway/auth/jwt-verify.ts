/**
 * Synchronous JWS (compact) verification with node:crypto: HS256 with the configured secret, RS256
 * and ES256 with keys from the JWKS. Strict: the algorithm decides which key family may be used (so
 * an HS256 token can never be checked against a public key), `none` and everything else is refused,
 * exp is required, nbf/iat/iss/aud are checked with a configurable clock skew.
 */
import { createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from "node:crypto";
import type { AuthFailure } from "../errors";

export interface VerifyOptions {
  /** HS256 secret; undefined → HS256 tokens are refused. */
  hsSecret?: Buffer;
  /** Required `iss` of HS256 tokens (ours, from /auth/login); "" → not checked. */
  issuer: string;
  /** Required `iss` of RS256/ES256 tokens (the JWKS owner, the security plugin); "" → not checked. */
  jwksIssuer: string;
  audience: string;
  skewS: number;
  maxBytes: number;
}

export type AsymmetricAlg = "RS256" | "ES256";

export interface ResolvedKey {
  key: KeyObject;
  alg: AsymmetricAlg;
}

/** Key lookup by kid: a key, or undefined when the kid is unknown (the caller may re-fetch the JWKS). */
export type KeyLookup = (kid: string) => ResolvedKey | undefined;

export type VerifyResult =
  | { ok: true; claims: Record<string, unknown>; exp: number }
  | { ok: false; reason: AuthFailure; unknownKid?: string };

const B64URL = /^[A-Za-z0-9_-]+$/;

function fail(reason: AuthFailure): VerifyResult {
  return { ok: false, reason };
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  if (!B64URL.test(part)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function verifyJwt(token: string, opts: VerifyOptions, lookup: KeyLookup, nowS: number = Date.now() / 1000): VerifyResult {
  if (token.length > opts.maxBytes) return fail("oversized");
  const d1 = token.indexOf(".");
  const d2 = d1 === -1 ? -1 : token.indexOf(".", d1 + 1);
  if (d1 <= 0 || d2 === -1 || token.indexOf(".", d2 + 1) !== -1 || d2 === d1 + 1) return fail("malformed");
  const header = decodeJson(token.slice(0, d1));
  if (!header) return fail("malformed");
  const alg = header.alg;
  if (typeof alg !== "string" || header.crit !== undefined) return fail("alg");
  const sigPart = token.slice(d2 + 1);
  if (!sigPart || !B64URL.test(sigPart)) return fail("signature");
  const sig = Buffer.from(sigPart, "base64url");
  const signingInput = token.slice(0, d2);

  if (alg === "HS256") {
    if (!opts.hsSecret) return fail("alg");
    if (sig.length !== 32) return fail("signature");
    const mac = createHmac("sha256", opts.hsSecret).update(signingInput).digest();
    if (!timingSafeEqual(mac, sig)) return fail("signature");
  } else if (alg === "RS256" || alg === "ES256") {
    const kid = header.kid;
    if (typeof kid !== "string" || kid.length === 0) return fail("kid");
    const resolved = lookup(kid);
    if (!resolved) return { ok: false, reason: "kid", unknownKid: kid };
    if (resolved.alg !== alg) return fail("alg"); // the key decides the algorithm, never the token
    const data = Buffer.from(signingInput);
    const good = alg === "ES256"
      ? sig.length === 64 && cryptoVerify("sha256", data, { key: resolved.key, dsaEncoding: "ieee-p1363" }, sig)
      : cryptoVerify("sha256", data, resolved.key, sig);
    if (!good) return fail("signature");
  } else {
    return fail("alg"); // none, HS384, PS256, ... are not accepted
  }

  const claims = decodeJson(token.slice(d1 + 1, d2));
  if (!claims) return fail("malformed");
  // The key source decides the issuer too: a JWKS-signed token cannot pose as one of ours and vice versa.
  return checkClaims(claims, opts, nowS, alg === "HS256" ? opts.issuer : opts.jwksIssuer);
}

/** Time and audience checks, after the signature is known good. */
export function checkClaims(claims: Record<string, unknown>, opts: VerifyOptions, nowS: number, issuer: string): VerifyResult {
  const { exp, nbf, iat } = claims;
  if (exp === undefined) return fail("no_exp");
  if (typeof exp !== "number" || !Number.isFinite(exp)) return fail("malformed");
  if (exp + opts.skewS <= nowS) return fail("expired");
  if (nbf !== undefined && (typeof nbf !== "number" || nbf - opts.skewS > nowS)) return fail("not_yet_valid");
  if (iat !== undefined && (typeof iat !== "number" || iat - opts.skewS > nowS)) return fail("iat");
  if (issuer && claims.iss !== issuer) return fail("issuer");
  if (opts.audience) {
    const aud = claims.aud;
    const ok = aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience));
    if (!ok) return fail("audience");
  }
  if (typeof claims.sub !== "string" || claims.sub.length === 0) return fail("malformed");
  return { ok: true, claims, exp };
}

/** Scopes a token grants: `scope` (space separated), `scp`, `scopes` and `roles` (arrays), merged. */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const out = new Set<string>();
  if (typeof claims.scope === "string") for (const s of claims.scope.split(" ")) if (s) out.add(s);
  for (const field of ["scp", "scopes", "roles"]) {
    const v = claims[field];
    if (Array.isArray(v)) {
      for (const s of v) if (typeof s === "string" && s) out.add(s);
    } else if (typeof v === "string" && v) {
      for (const s of v.split(" ")) if (s) out.add(s);
    }
  }
  return [...out];
}
