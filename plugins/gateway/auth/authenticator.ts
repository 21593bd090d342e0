/**
 * Request → caller. A bearer JWT (cache first, then a synchronous verify; a Promise only when an
 * unknown kid makes us re-fetch the JWKS) or an API key (X-API-Key, compared by SHA-256).
 */
import { createHash } from "node:crypto";
import type { EdgeRequest, Principal } from "../edge-policy/contract";
import type { AuthFailure } from "../errors";
import type { ApiKeyEntry } from "./settings";
import { verifyJwt, scopesOf, type VerifyOptions, type VerifyResult } from "./jwt-verify";
import type { JwksKeys } from "./jwks";
import { TokenCache } from "./token-cache";
import type { RevocationList } from "./revocations";

export interface AuthPrincipal extends Principal {
  readonly scopeSet: ReadonlySet<string>;
  /** Rate-limit key of this caller ("s:<sub>" or "k:<api key name>"), built once. */
  readonly rateKey: string;
  /** The token's jti (JWTs that carry one), so a revocation can find it in the cache. */
  readonly jti?: string;
}

export type AuthOutcome = AuthPrincipal | AuthFailure;

export interface AuthCounters {
  cacheHit(): void;
  cacheMiss(): void;
}

/**
 * Throttle for callers that keep presenting bad credentials: consulted only before real work (a
 * signature check or a key hash), so cached valid tokens from the same address are never slowed.
 */
export interface FailureGate {
  blocked(req: EdgeRequest, peer: string): boolean;
  failed(req: EdgeRequest, peer: string): void;
}

const OPEN_GATE: FailureGate = { blocked: () => false, failed: () => {} };

export class Authenticator {
  private readonly cache: TokenCache<AuthPrincipal>;
  /**
   * jti → the cache key(s) (header values) its token is cached under, written on a cache miss only.
   * Entries the cache has since evicted linger until the index outgrows the cache and is rebuilt.
   */
  private byJti = new Map<string, string | string[]>();
  private readonly cacheCapacity: number;
  private readonly apiKeys = new Map<string, AuthPrincipal>();
  /** Raw API key → principal, for keys already seen valid (bounded by the configured key count). */
  private readonly apiKeyHits = new Map<string, AuthPrincipal>();
  private readonly maxHeader: number;

  constructor(
    private readonly verifyOpts: VerifyOptions,
    cacheSize: number,
    apiKeys: readonly ApiKeyEntry[],
    private readonly jwks: JwksKeys | undefined,
    private readonly counters: AuthCounters,
    private readonly gate: FailureGate = OPEN_GATE,
    private readonly revoked?: RevocationList,
  ) {
    this.cache = new TokenCache(cacheSize);
    this.cacheCapacity = cacheSize;
    this.maxHeader = verifyOpts.maxBytes + 7;
    for (const k of apiKeys) {
      this.apiKeys.set(k.key_sha256, makePrincipal(k.name, k.scopes, "api_key"));
    }
  }

  get cacheSize(): number { return this.cache.size; }

  /**
   * A jti was revoked: drop its tokens from the verified-token cache so the next request verifies
   * again and meets the deny-list. Two Map operations; the cache-hit path is untouched.
   */
  evictJti(jti: string): number {
    const keys = this.byJti.get(jti);
    if (keys === undefined) return 0;
    this.byJti.delete(jti);
    if (typeof keys === "string") return this.cache.delete(keys) ? 1 : 0;
    let n = 0;
    for (const k of keys) if (this.cache.delete(k)) n++;
    return n;
  }

  private index(jti: string, cacheKey: string): void {
    const prev = this.byJti.get(jti);
    if (prev === undefined) {
      if (this.byJti.size >= this.cacheCapacity * 2 + 16) this.rebuildIndex();
      this.byJti.set(jti, cacheKey);
    } else if (prev !== cacheKey) {
      // The same token under another header spelling ("bearer" / extra spaces): both keys go on revoke.
      if (typeof prev === "string") this.byJti.set(jti, [prev, cacheKey]);
      else if (!prev.includes(cacheKey) && prev.length < 8) prev.push(cacheKey);
    }
  }

  /** Keep only jtis still in the cache (amortised: once per ~capacity misses). */
  private rebuildIndex(): void {
    const next = new Map<string, string | string[]>();
    for (const [k, p] of this.cache.entries()) {
      if (p.jti === undefined) continue;
      const prev = next.get(p.jti);
      next.set(p.jti, prev === undefined ? k : typeof prev === "string" ? [prev, k] : [...prev, k]);
    }
    this.byJti = next;
  }

  /** `peer` (the TCP peer) is only used by the failure gate, and only on a cache miss. */
  authenticate(req: EdgeRequest, peer = ""): AuthOutcome | Promise<AuthOutcome> {
    const authz = req.headers.get("authorization");
    if (authz !== null) {
      // The cache is keyed by the whole header value: a hit needs no slicing or parsing at all.
      const now = Date.now();
      const hit = this.cache.get(authz, now);
      if (hit !== undefined) {
        this.counters.cacheHit();
        return hit;
      }
      this.counters.cacheMiss();
      if (authz.length > this.maxHeader) return this.fail(req, peer, "oversized");
      if (authz.length < 8 || authz.charCodeAt(6) !== 32 || authz.slice(0, 6).toLowerCase() !== "bearer") return this.fail(req, peer, "malformed");
      if (this.gate.blocked(req, peer)) return "throttled";
      return this.verifyUncached(authz.slice(7).trim(), authz, now, req, peer);
    }
    const key = req.headers.get("x-api-key");
    if (key !== null) return this.apiKey(key, req, peer);
    return "missing";
  }

  private fail(req: EdgeRequest, peer: string, reason: AuthFailure): AuthFailure {
    this.gate.failed(req, peer);
    return reason;
  }

  private verifyUncached(token: string, cacheKey: string, now: number, req: EdgeRequest, peer: string): AuthOutcome | Promise<AuthOutcome> {
    const r = verifyJwt(token, this.verifyOpts, this.jwks ? this.jwks.lookup : noKeys, now / 1000);
    if (!r.ok && r.unknownKid !== undefined && this.jwks) {
      const jwks = this.jwks;
      return jwks.refetchForUnknownKid().then(() => {
        if (!jwks.ready) return "jwks_unavailable" as const;
        return this.accept(cacheKey, verifyJwt(token, this.verifyOpts, jwks.lookup, Date.now() / 1000), req, peer);
      });
    }
    return this.accept(cacheKey, r, req, peer);
  }

  private accept(cacheKey: string, r: VerifyResult, req: EdgeRequest, peer: string): AuthOutcome {
    if (!r.ok) return this.fail(req, peer, r.reason);
    const jti = typeof r.claims.jti === "string" ? r.claims.jti : undefined;
    // Checked here, after the verify (also after an async JWKS re-fetch), so no revocation slips between.
    if (jti !== undefined && this.revoked !== undefined && this.revoked.has(jti)) return this.fail(req, peer, "revoked");
    const p = makePrincipal(r.claims.sub as string, scopesOf(r.claims), "jwt", jti);
    this.cache.set(cacheKey, p, (r.exp + this.verifyOpts.skewS) * 1000);
    if (jti !== undefined && this.cacheCapacity > 0) this.index(jti, cacheKey);
    return p;
  }

  private apiKey(key: string, req?: EdgeRequest, peer = ""): AuthOutcome {
    const seen = this.apiKeyHits.get(key);
    if (seen) return seen;
    if (req && this.gate.blocked(req, peer)) return "throttled";
    if (key.length === 0 || key.length > 512) return req ? this.fail(req, peer, "api_key") : "api_key";
    const p = this.apiKeys.get(createHash("sha256").update(key).digest("hex"));
    if (!p) return req ? this.fail(req, peer, "api_key") : "api_key";
    if (this.apiKeyHits.size < this.apiKeys.size * 4) this.apiKeyHits.set(key, p);
    return p;
  }

  /** API key (raw) → principal, for /auth/login with an API key. */
  principalForApiKey(key: string): AuthPrincipal | undefined {
    const r = this.apiKey(key);
    return typeof r === "string" ? undefined : r;
  }
}

const noKeys = () => undefined;

export function makePrincipal(subject: string, scopes: readonly string[], via: Principal["via"], jti?: string): AuthPrincipal {
  return Object.freeze({ subject, scopes: Object.freeze([...scopes]), via, scopeSet: new Set(scopes), rateKey: (via === "api_key" ? "k:" : "s:") + subject, ...(jti !== undefined ? { jti } : {}) });
}
