/**
 * Resilience primitives shared by the gateway and the clients. (The breaker plugin's helper extends
 * this module with timeouts, bulkheads and fallbacks; keep each primitive pure and small.)
 */

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * a uniformly random delay in [0, min(cap, base · 2^attempt)). `attempt` counts from 0.
 */
export function fullJitterBackoff(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
