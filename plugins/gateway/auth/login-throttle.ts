/**
 * Password-guessing protection that a stranger cannot turn into a lockout. Only FAILED logins count:
 *  - per account + client address (`login_per_account_ip`): beyond it that pair waits (429,
 *    Retry-After = the time until the GCRA lets the next attempt through); nobody else is affected;
 *  - per account from everywhere (`login_per_account`, the brute-force ceiling against many
 *    addresses): beyond it, addresses that never logged in to this account wait; addresses that did
 *    (remembered `login_known_ip_ttl`) are exempt, so the owner keeps getting in from their own.
 * Counters go through the rate limiter (Redis-shared in cluster mode); the "wait until" marks and the
 * known addresses are this instance's (bounded maps).
 */
import type { GcraPolicy, RateDecision } from "../ratelimit/gcra";
import type { RateLimiter } from "../ratelimit/rate-limiter";

export interface LoginThrottleDeps {
  limiter: RateLimiter | undefined;
  perAccountIp: GcraPolicy;
  perAccount: GcraPolicy;
  knownIpTtlMs: number;
}

const MAX_KEYS = 100_000;

function bounded<K, V>(m: Map<K, V>, k: K, v: V) {
  if (m.size >= MAX_KEYS && !m.has(k)) m.clear(); // losing marks only forgets failures / known addresses
  m.set(k, v);
}

export class LoginThrottle {
  private readonly pairUntil = new Map<string, number>();
  private readonly accountUntil = new Map<string, number>();
  /** account + "\n" + ip → when that address stops being known for the account. */
  private readonly known = new Map<string, number>();
  private readonly pairCounters?: Map<string, number>;
  private readonly accountCounters?: Map<string, number>;

  constructor(private readonly d: LoginThrottleDeps) {
    this.pairCounters = d.limiter?.countersFor(d.perAccountIp);
    this.accountCounters = d.limiter?.countersFor(d.perAccount);
  }

  private isKnown(account: string, ip: string, now: number): boolean {
    const until = this.known.get(account + "\n" + ip);
    return until !== undefined && until > now;
  }

  /** Seconds to wait before this attempt may be checked, or 0 to check it now. `ip` undefined: no per-address view. */
  waitS(account: string, ip: string | undefined, now = Date.now()): { waitS: number; why?: "address" | "account" } {
    if (ip !== undefined) {
      const pair = this.pairUntil.get(account + "\n" + ip);
      if (pair !== undefined && pair > now) return { waitS: Math.max(1, Math.ceil((pair - now) / 1000)), why: "address" };
      if (this.isKnown(account, ip, now)) return { waitS: 0 };
    }
    const acct = this.accountUntil.get(account);
    if (acct !== undefined && acct > now) return { waitS: Math.max(1, Math.ceil((acct - now) / 1000)), why: "account" };
    return { waitS: 0 };
  }

  /** When the next attempt may pass after this decision (the GCRA's own spacing). */
  private until(p: GcraPolicy, r: RateDecision, now: number): number {
    if (!r.allowed) return now + r.retryAfterMs;
    return r.remaining > 0 ? 0 : now + Math.max(0, r.resetMs + p.emissionMs - p.periodMs);
  }

  async failed(account: string, ip: string | undefined): Promise<void> {
    const l = this.d.limiter;
    if (!l) return;
    const now = Date.now();
    if (ip !== undefined && this.pairCounters) {
      const key = account + "\n" + ip;
      const u = this.until(this.d.perAccountIp, await l.decide(this.d.perAccountIp, this.pairCounters, "pair:" + key), now);
      if (u > now) bounded(this.pairUntil, key, u);
    }
    if (this.accountCounters) {
      const u = this.until(this.d.perAccount, await l.decide(this.d.perAccount, this.accountCounters, "acct:" + account), now);
      if (u > now) bounded(this.accountUntil, account, u);
    }
  }

  succeeded(account: string, ip: string | undefined): void {
    if (ip === undefined) return;
    const key = account + "\n" + ip;
    this.pairUntil.delete(key);
    bounded(this.known, key, Date.now() + this.d.knownIpTtlMs);
  }
}
