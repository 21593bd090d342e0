/**
 * Stage 3 of the walk, edge policy: the caller's platform identity when the service requires one
 * (require_spiffe), then the edge's check (authentication, scopes, rate limits). Its decision is
 * kept on the call (the principal, headers to add to the answer); a rejection is the edge's own
 * Response (401, 403, 429...).
 */
import type { EdgeDecision, EdgeRequest } from "../edge-policy/contract";
import type { CompiledRoute } from "./compiled-route";
import { spiffeRefusal } from "../platform-upstreams";
import type { Call, ProxyCore, Refusal } from "./pipeline";

/** The edge's verdict: proceed (decision on the call), a Response to send instead, or a refusal of ours. */
export type PolicyVerdict = undefined | Response | Refusal;

/** The verdict of the edge's decision `d`; a decision to proceed is kept on the call. */
export function verdictOf(call: Call, d: EdgeDecision): PolicyVerdict {
  if (d.reject !== undefined) return d.reject;
  call.decision = d;
  return undefined;
}

/**
 * `req`'s headers are what the edge reads. When the edge has to look something up (JWKS, Redis) this is
 * its pending decision, which the lane turns into a verdict with verdictOf() once it comes (one promise
 * step per request, not one here and one in the lane).
 */
export function checkPolicy(core: ProxyCore, call: Call, req: EdgeRequest, route: CompiledRoute): PolicyVerdict | Promise<EdgeDecision> {
  if (route.svc.settings.require_spiffe.length > 0) {
    const peer = spiffeRefusal(route, call.peerId);
    if (peer) return peer;
  }
  const decision = core.o.policy.check(req, route.edge, call.clientIp);
  core.trace?.edge(call.requestId, route, decision);
  if (decision instanceof Promise) return decision;
  return verdictOf(call, decision);
}
