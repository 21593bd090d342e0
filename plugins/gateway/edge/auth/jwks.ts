/**
 * The security plugin's public keys (JWKS), fetched at start, re-fetched periodically, and on a kid
 * we do not know (rate limited, one fetch in flight). A new key set replaces the old one only after
 * it parsed, so a failed fetch never drops the keys in use: rotation without downtime.
 */
import { createPublicKey } from "node:crypto";
import type { Logger } from "../../../../src/core/log";
import type { AsymmetricAlg, ResolvedKey } from "./jwt-verify";

export interface JwksOptions {
  url: string;
  refreshMs: number;
  minRefetchMs: number;
  log: Logger;
  timeoutMs?: number;
  /** fetch()'s `tls` per attempt (platform mTLS: the host's certificate, current after a renewal). */
  tls?: () => object | undefined;
}

export class JwksKeys {
  private keys = new Map<string, ResolvedKey>();
  private lastFetch = 0;
  private inFlight?: Promise<boolean>;
  private timer?: ReturnType<typeof setInterval>;
  private loadedOnce = false;
  private lastError = "";

  constructor(private readonly opts: JwksOptions) {}

  /** Fetch once (a failure is logged, not fatal: keys may come later) and schedule refreshes. */
  async start(): Promise<void> {
    await this.refetch(true);
    this.timer = setInterval(() => void this.refetch(true), this.opts.refreshMs);
    (this.timer as any).unref?.();
  }

  readonly lookup = (kid: string): ResolvedKey | undefined => this.keys.get(kid);

  get ready(): boolean { return this.loadedOnce; }

  /** A token named a kid we do not have: re-fetch unless we did so very recently. true → key set changed/was loaded. */
  refetchForUnknownKid(): Promise<boolean> {
    return this.refetch(false);
  }

  private refetch(force: boolean): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    if (!force && Date.now() - this.lastFetch < this.opts.minRefetchMs) return Promise.resolve(false);
    this.lastFetch = Date.now();
    this.inFlight = this.load().finally(() => { this.inFlight = undefined; });
    return this.inFlight;
  }

  private async load(): Promise<boolean> {
    try {
      const tls = this.opts.tls?.();
      const res = await fetch(this.opts.url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 2000), ...(tls ? { tls } : {}) } as RequestInit);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body?.keys)) throw new Error("no keys array");
      const next = new Map<string, ResolvedKey>();
      for (const jwk of body.keys as Record<string, unknown>[]) {
        const parsed = parseJwk(jwk);
        if (parsed) next.set(parsed.kid, parsed.resolved);
      }
      this.keys = next;
      this.loadedOnce = true;
      this.lastError = "";
      return true;
    } catch (err) {
      this.lastError = String((err as Error)?.message ?? err);
      this.opts.log.warn("JWKS fetch failed; keeping the keys we have", { url: this.opts.url, error: this.lastError, keys: this.keys.size });
      return false;
    }
  }

  health(): Record<string, unknown> {
    return { url: this.opts.url, keys: this.keys.size, loaded: this.loadedOnce, ...(this.lastError ? { last_error: this.lastError } : {}) };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** One JWK → a verification key, or undefined for keys we do not use (enc, symmetric, other curves). */
export function parseJwk(jwk: Record<string, unknown>): { kid: string; resolved: ResolvedKey } | undefined {
  if (typeof jwk?.kid !== "string" || !jwk.kid) return undefined;
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined;
  let alg: AsymmetricAlg;
  if (jwk.kty === "RSA") alg = "RS256";
  else if (jwk.kty === "EC" && jwk.crv === "P-256") alg = "ES256";
  else return undefined;
  if (jwk.alg !== undefined && jwk.alg !== alg) return undefined;
  try {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk; // only ever the public half
    const key = createPublicKey({ key: pub as any, format: "jwk" });
    return { kid: jwk.kid, resolved: { key, alg } };
  } catch {
    return undefined;
  }
}
