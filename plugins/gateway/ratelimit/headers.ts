/**
 * The rate-limit response headers (`rate_limiting.headers`): draft-ietf-httpapi-ratelimit-headers
 * structured fields (`RateLimit-Policy` + `RateLimit`), the legacy trio, or none.
 */
import type { GcraPolicy, RateDecision } from "./gcra";

export type HeaderStyle = "draft" | "legacy" | "none";
export type HeaderPairs = readonly (readonly [string, string])[];

export function rateLimitHeaders(style: HeaderStyle, p: GcraPolicy, d: RateDecision): HeaderPairs {
  const resetS = Math.ceil(d.resetMs / 1000);
  if (style === "draft") return [p.policyPair, ["ratelimit", `"${p.name}";r=${d.remaining};t=${resetS}`]];
  if (style === "legacy") return [p.limitPair, ["ratelimit-remaining", String(d.remaining)], ["ratelimit-reset", String(resetS)]];
  return [];
}
