/**
 * GCRA (generic cell rate algorithm): one number per key, the theoretical arrival time (TAT).
 * Equivalent to a token bucket of `limit` tokens refilled at limit/period, without a timer or a
 * second field. Pure: the caller owns the storage (a Map here, a Redis key in the Lua twin).
 */
import type { Rate } from "../../../src/config/units";

export interface GcraPolicy {
  /** Label in headers and metrics (route id, "login:ip"...). */
  readonly name: string;
  readonly limit: number;
  readonly periodMs: number;
  /** periodMs / limit: the spacing between requests at the sustained rate. */
  readonly emissionMs: number;
  /** Identity of the policy's numbers: counters are kept only while it is unchanged. */
  readonly signature: string;
  /** Precomputed header values (they do not depend on the request). */
  readonly policyHeader: string;
  readonly limitHeader: string;
  /** ["ratelimit-policy", policyHeader] and ["ratelimit-limit", limit], shared by every response. */
  readonly policyPair: readonly [string, string];
  readonly limitPair: readonly [string, string];
  /** Script arguments as strings, so a Redis decision does not format numbers per request. */
  readonly emissionArg: string;
  readonly periodArg: string;
}

export function makePolicy(name: string, rate: Rate): GcraPolicy {
  const limit = Math.max(1, Math.floor(rate.limit));
  const periodMs = Math.max(1, rate.periodMs);
  const windowS = Math.max(1, Math.ceil(periodMs / 1000));
  return {
    name,
    limit,
    periodMs,
    emissionMs: periodMs / limit,
    signature: `${name}|${limit}/${periodMs}`,
    policyHeader: `"${name}";q=${limit};w=${windowS}`,
    limitHeader: String(limit),
    policyPair: Object.freeze(["ratelimit-policy", `"${name}";q=${limit};w=${windowS}`] as const),
    limitPair: Object.freeze(["ratelimit-limit", String(limit)] as const),
    emissionArg: String(periodMs / limit),
    periodArg: String(periodMs),
  };
}

export interface RateDecision {
  allowed: boolean;
  /** Requests still allowed right now. */
  remaining: number;
  /** ms until the bucket is full again (allowed) / until the next request may pass (denied). */
  resetMs: number;
  /** ms to wait before retrying (0 when allowed). */
  retryAfterMs: number;
  /** true when a cluster policy was decided locally because Redis is unreachable. */
  fallback?: boolean;
}

/**
 * One decision. `tat` is the stored TAT (undefined for a new key); returns the decision and the
 * TAT to store (unchanged when denied).
 */
export function gcraDecide(p: GcraPolicy, tat: number | undefined, now: number): { decision: RateDecision; tat: number } {
  const base = tat === undefined || tat < now ? now : tat;
  const next = base + p.emissionMs;
  const ahead = next - now; // how far the key runs ahead of real time after this request
  if (ahead > p.periodMs + 1e-6) {
    const wait = ahead - p.periodMs;
    return { decision: { allowed: false, remaining: 0, resetMs: wait, retryAfterMs: wait }, tat: base };
  }
  const remaining = Math.floor((p.periodMs - ahead) / p.emissionMs + 1e-9);
  return { decision: { allowed: true, remaining, resetMs: ahead, retryAfterMs: 0 }, tat: next };
}

/** Would the next request be refused? (A look without taking a token.) */
export function gcraWouldDeny(p: GcraPolicy, tat: number | undefined, now: number): boolean {
  return tat !== undefined && tat + p.emissionMs - now > p.periodMs + 1e-6;
}
