/**
 * Compact JWS (ES256 only) with node:crypto: signing, and a verifier that refuses the usual attacks
 * before any key is touched — alg "none", any alg other than ES256 (HS256 key confusion with the public
 * key), crit headers, unknown kid — then checks the signature and the registered claims. Pure given a key lookup.
 */
import { createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";

export interface JwtClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  nbf?: number;
  iat: number;
  jti: string;
  scope?: string;
  scopes?: string[];
  [k: string]: unknown;
}

export type FailReason =
  | "too_long" | "malformed" | "alg_not_allowed" | "unknown_kid" | "bad_signature" | "missing_exp"
  | "expired" | "not_yet_valid" | "issued_in_future" | "bad_issuer" | "bad_audience" | "revoked";

export type Verified = { ok: true; claims: JwtClaims; kid: string } | { ok: false; reason: FailReason; message: string };

const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const enc = (obj: unknown) => Buffer.from(JSON.stringify(obj)).toString("base64url");

export function signJwt(claims: JwtClaims, kid: string, key: KeyObject): string {
  const input = `${enc({ alg: "ES256", typ: "JWT", kid })}.${enc(claims)}`;
  const sig = nodeSign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

export interface VerifyOptions {
  key(kid: string): KeyObject | undefined;
  issuer: string;
  audience: string;
  skewS: number;
  maxLength: number;
  nowS?: number;
}

const fail = (reason: FailReason, message: string): Verified => ({ ok: false, reason, message });

function parseJson(part: string): any {
  try {
    const v = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function verifyJwt(token: string, o: VerifyOptions): Verified {
  if (token.length > o.maxLength) return fail("too_long", `token longer than ${o.maxLength} characters`);
  const d1 = token.indexOf(".");
  const d2 = token.indexOf(".", d1 + 1);
  if (d1 <= 0 || d2 <= d1 + 1 || token.indexOf(".", d2 + 1) !== -1 || d2 === token.length - 1) return fail("malformed", "not a compact JWS (three non-empty base64url parts)");
  const h = token.slice(0, d1), p = token.slice(d1 + 1, d2), s = token.slice(d2 + 1);
  if (!B64URL_RE.test(h) || !B64URL_RE.test(p) || !B64URL_RE.test(s)) return fail("malformed", "parts must be base64url");
  const header = parseJson(h);
  if (!header) return fail("malformed", "header is not a JSON object");
  if (header.alg !== "ES256") return fail("alg_not_allowed", `alg ${JSON.stringify(header.alg ?? null).slice(0, 20)} is not accepted (ES256 only)`);
  if (header.crit !== undefined) return fail("malformed", "crit header is not supported");
  if (header.typ !== undefined && header.typ !== "JWT") return fail("malformed", "typ must be JWT");
  if (typeof header.kid !== "string") return fail("unknown_kid", "kid missing");
  const key = o.key(header.kid);
  if (!key) return fail("unknown_kid", "kid is not one of our keys");
  const sig = Buffer.from(s, "base64url");
  if (sig.length !== 64 || !nodeVerify("sha256", Buffer.from(token.slice(0, d2)), { key, dsaEncoding: "ieee-p1363" }, sig)) return fail("bad_signature", "signature does not verify");
  const c = parseJson(p) as JwtClaims | undefined;
  if (!c) return fail("malformed", "payload is not a JSON object");
  const now = o.nowS ?? Math.floor(Date.now() / 1000);
  if (typeof c.exp !== "number") return fail("missing_exp", "exp claim is required");
  if (c.exp + o.skewS <= now) return fail("expired", "token has expired");
  if (c.nbf !== undefined && (typeof c.nbf !== "number" || c.nbf - o.skewS > now)) return fail("not_yet_valid", "token is not valid yet (nbf)");
  if (typeof c.iat !== "number" || c.iat - o.skewS > now) return fail("issued_in_future", "iat missing or in the future");
  if (c.iss !== o.issuer) return fail("bad_issuer", "issuer does not match");
  const aud = c.aud;
  if (!(aud === o.audience || (Array.isArray(aud) && aud.includes(o.audience)))) return fail("bad_audience", "audience does not match");
  if (typeof c.sub !== "string" || c.sub === "") return fail("malformed", "sub claim is required");
  return { ok: true, claims: c, kid: header.kid };
}

/** Public key from a JWK (for tests and clients verifying against the JWKS). */
export function publicKeyFromJwk(jwk: JsonWebKey): KeyObject {
  return createPublicKey({ key: jwk as any, format: "jwk" });
}
