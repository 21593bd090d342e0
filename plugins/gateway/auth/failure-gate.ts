/**
 * The bad-credential throttle (`rate_limiting.auth_failures_per_ip`): every failed token or API-key
 * check counts against the client's IP (GCRA, this instance's counters, kept across reloads in the
 * shared pool); past the rate, that IP's uncached credentials are refused before any signature check.
 */
import type { SharedPool } from "../../../src/core/shared-pool";
import type { Rate } from "../../../src/config/units";
import type { EdgeRequest } from "../edge-policy/contract";
import type { ClientIpResolver } from "../ratelimit/client-ip";
import { gcraDecide, gcraWouldDeny, makePolicy } from "../ratelimit/gcra";
import type { FailureGate } from "./authenticator";

/** Bound of the per-IP counters; losing them only forgets failures. */
const MAX_IPS = 100_000;

/** The gate and the Retry-After (seconds) of its 429, or undefined when the rate is 0 (off). */
export function failureGate(rate: Rate, shared: SharedPool, resolver: ClientIpResolver): { gate: FailureGate; retryAfterS: number } | undefined {
  if (rate.limit <= 0) return undefined;
  const fp = makePolicy("auth-failures", rate);
  const failures = shared.getOrCreate(`gateway:edge:authfail:${fp.signature}`, () => new Map<string, number>());
  const ipOf = (req: EdgeRequest, peer: string) => resolver.resolve(peer, req.headers.get("x-forwarded-for"));
  const gate: FailureGate = {
    blocked: (req, peer) => gcraWouldDeny(fp, failures.get(ipOf(req, peer)), Date.now()),
    failed(req, peer) {
      const ip = ipOf(req, peer);
      const r = gcraDecide(fp, failures.get(ip), Date.now());
      if (failures.size >= MAX_IPS && !failures.has(ip)) failures.clear();
      failures.set(ip, r.tat);
    },
  };
  return { gate, retryAfterS: Math.max(1, Math.ceil(fp.emissionMs / 1000)) };
}
