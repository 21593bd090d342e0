/**
 * The security plugin's public keys (JWKS), fetched at start, re-fetched periodically, and on a kid
 * we do not know (rate limited, one fetch in flight). A new key set replaces the old one only after
 * it parsed, so a failed fetch never drops the keys in use: rotation without downtime. A failed fetch
 * is retried in the background with backoff (a gateway that starts before the security plugin has keys
 * moments after it comes up, not at the next periodic refresh), and while the last fetch failed an
 * unknown kid may re-fetch after RETRY_FLOOR_MS rather than minRefetchMs.
 */
import { createPublicKey } from "node:crypto";
import type { Logger } from "../../../src/core/log";
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

const RETRY_FLOOR_MS = 250;
const RETRY_CAP_MS = 30_000;

export class JwksKeys {
  private keys = new Map<string, ResolvedKey>();
  private lastFetch = 0;
  private inFlight?: Promise<boolean>;
  private timer?: ReturnType<typeof setInterval>;
  private loadedOnce = false;
  private lastError = "";
  private failures = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private stopped = false;

  constructor(private readonly opts: JwksOptions) {}

  /** Fetch once (a failure is logged, not fatal: keys may come later) and schedule refreshes. */
  async start(): Promise<void> {
    await this.refetch(true);
    this.timer = setInterval(() => void this.refetch(true), this.opts.refreshMs);
    this.timer.unref?.();
  }

  readonly lookup = (kid: string): ResolvedKey | undefined => this.keys.get(kid);

  get ready(): boolean { return this.loadedOnce; }

  /** A token named a kid we do not have: re-fetch unless we did so very recently. true → key set changed/was loaded. */
  refetchForUnknownKid(): Promise<boolean> {
    return this.refetch(false);
  }

  private refetch(force: boolean): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    const floor = this.failures > 0 ? Math.min(RETRY_FLOOR_MS, this.opts.minRefetchMs) : this.opts.minRefetchMs;
    if (!force && Date.now() - this.lastFetch < floor) return Promise.resolve(false);
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
      this.failures = 0;
      return true;
    } catch (err) {
      this.lastError = String((err as Error)?.message ?? err);
      this.failures++;
      this.opts.log.warn("JWKS fetch failed; keeping the keys we have", { url: this.opts.url, error: this.lastError, keys: this.keys.size });
      this.scheduleRetry();
      return false;
    }
  }

  /** One pending retry at a time: 250 ms, doubling, capped at 30 s (never later than the periodic refresh). */
  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = Math.min(RETRY_FLOOR_MS * 2 ** Math.min(this.failures - 1, 16), RETRY_CAP_MS, this.opts.refreshMs);
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; void this.refetch(true); }, delay);
    this.retryTimer.unref?.();
  }

  health(): Record<string, unknown> {
    return { url: this.opts.url, keys: this.keys.size, loaded: this.loadedOnce, ...(this.lastError ? { last_error: this.lastError } : {}) };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
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
    const key = createPublicKey({ key: pub as JsonWebKey, format: "jwk" });
    return { kid: jwk.kid, resolved: { key, alg } };
  } catch {
    return undefined;
  }
}
