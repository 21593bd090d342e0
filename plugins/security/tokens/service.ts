/**
 * Minting and validation of service tokens. Validation keeps a bounded cache of verified tokens
 * (token → precomputed answer, until exp): the hot path is one Map lookup, a clock compare and a
 * deny-list check. A revoked jti is refused from then on, cached or not.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../crypto-box";
import type { KeyRing } from "./keyring";
import { signJwt, verifyJwt, type FailReason, type JwtClaims } from "./jwt";

export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlMs: number;
  maxTtlMs: number;
  skewMs: number;
  cacheSize: number;
  maxLength: number;
}

export interface ValidOutcome { valid: true; claims: JwtClaims; body: string }
export interface InvalidOutcome { valid: false; reason: FailReason; message: string; body: string }
export type Outcome = ValidOutcome | InvalidOutcome;

interface CacheEntry { outcome: ValidOutcome; expMs: number; nbfMs: number; jti: string }

export interface TokenService {
  mint(service: string, scopes: readonly string[], ttlMs?: number): { token: string; claims: JwtClaims; kid: string };
  validate(token: string, audience?: string): Outcome;
  /** Deny a jti until `expS` (its token's exp); it is refused from now on. */
  revoke(jti: string, expS: number): void;
  isRevoked(jti: string): boolean;
  /** Revoked jtis whose tokens have not expired yet (what a gateway needs to seed its deny-list). */
  revokedList(): { jti: string; exp: number }[];
  cacheSize(): number;
}

export function createTokenService(ring: KeyRing, s: TokenSettings, denyFile: string): TokenService {
  const skewS = Math.ceil(s.skewMs / 1000);
  const cache = new Map<string, CacheEntry>();
  const denied = new Map<string, number>(existsSync(denyFile) ? Object.entries(JSON.parse(readFileSync(denyFile, "utf8"))) as [string, number][] : []);
  const invalid = (reason: FailReason, message: string): InvalidOutcome => ({ valid: false, reason, message, body: JSON.stringify({ valid: false, reason, message }) });
  const lookup = (kid: string) => ring.verifier(kid);

  function slowValidate(token: string, audience: string): Outcome {
    const v = verifyJwt(token, { key: lookup, issuer: s.issuer, audience, skewS, maxLength: s.maxLength });
    if (!v.ok) return invalid(v.reason, v.message);
    if (denied.has(v.claims.jti)) return invalid("revoked", "token has been revoked");
    const outcome: ValidOutcome = { valid: true, claims: v.claims, body: JSON.stringify({ valid: true, claims: v.claims }) };
    if (s.cacheSize > 0 && audience === s.audience) {
      if (cache.size >= s.cacheSize) cache.delete(cache.keys().next().value!);
      cache.set(token, { outcome, expMs: (v.claims.exp + skewS) * 1000, nbfMs: ((v.claims.nbf ?? 0) - skewS) * 1000, jti: v.claims.jti });
    }
    return outcome;
  }

  return {
    mint(service, scopes, ttlMs) {
      const now = Math.floor(Date.now() / 1000);
      const ttl = Math.min(ttlMs ?? s.ttlMs, s.maxTtlMs);
      const claims: JwtClaims = { iss: s.issuer, sub: service, aud: s.audience, iat: now, nbf: now, exp: now + Math.max(1, Math.floor(ttl / 1000)), jti: randomUUID(), scope: scopes.join(" "), scopes: [...scopes] };
      const { kid, key } = ring.signing();
      return { token: signJwt(claims, kid, key), claims, kid };
    },
    validate(token, audience = s.audience) {
      // The cache holds outcomes for the default audience only: another audience is always checked.
      const hit = audience === s.audience ? cache.get(token) : undefined;
      if (hit) {
        const now = Date.now();
        cache.delete(token);
        if (now < hit.expMs && now >= hit.nbfMs && !denied.has(hit.jti)) {
          cache.set(token, hit); // most recently used goes last: eviction takes the first (least recent)
          return hit.outcome;
        }
      }
      return slowValidate(token, audience);
    },
    revoke(jti, expS) {
      const now = Date.now() / 1000;
      denied.set(jti, expS);
      for (const [k, exp] of denied) if (exp + skewS < now) denied.delete(k);
      writeFileAtomic(denyFile, JSON.stringify(Object.fromEntries(denied)));
    },
    isRevoked(jti) { return denied.has(jti); },
    revokedList() {
      const now = Date.now() / 1000;
      const out: { jti: string; exp: number }[] = [];
      for (const [jti, exp] of denied) if (exp + skewS >= now) out.push({ jti, exp });
      return out;
    },
    cacheSize() { return cache.size; },
  };
}
