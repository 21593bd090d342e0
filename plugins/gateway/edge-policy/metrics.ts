/** The edge's metrics, with label children resolved once so the hot path only increments. */
import type { PluginMetrics } from "../../../src/core/metrics";

export interface EdgeMetrics {
  authFailure(reason: string): void;
  limited(policy: string): void;
  cacheHit(): void;
  cacheMiss(): void;
}

export function createEdgeMetrics(m: PluginMetrics): EdgeMetrics {
  const failures = m.counter({ name: "auth_failures_total", help: "Requests refused by the edge's authentication, by reason.", labelNames: ["reason"] });
  const limited = m.counter({ name: "ratelimit_limited_total", help: "Requests refused with 429, by rate-limit policy.", labelNames: ["policy"] });
  const cache = m.counter({ name: "token_cache_requests_total", help: "Bearer-token cache lookups, by result (hit: no signature check needed).", labelNames: ["result"] });
  const hit = cache.labels("hit");
  const miss = cache.labels("miss");
  let hits = 0;
  let misses = 0;
  m.gauge({
    name: "token_cache_hit_ratio",
    help: "Share of bearer-token lookups answered from the verified-token cache since start.",
    collect(g) { g.set(hits + misses === 0 ? 0 : hits / (hits + misses)); },
  });
  const failureChildren = new Map<string, { inc(): void }>();
  const limitedChildren = new Map<string, { inc(): void }>();
  const child = (map: Map<string, { inc(): void }>, c: { labels(l: string): { inc(): void } }, label: string) => {
    let x = map.get(label);
    if (!x) map.set(label, (x = c.labels(label)));
    return x;
  };
  return {
    authFailure(reason) { child(failureChildren, failures, reason).inc(); },
    limited(policy) { child(limitedChildren, limited, policy).inc(); },
    cacheHit() { hits++; hit.inc(); },
    cacheMiss() { misses++; miss.inc(); },
  };
}
