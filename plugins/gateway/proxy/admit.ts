/**
 * Stage 4 of the walk, admit: may this service be called at all? A quarantined service answers 503,
 * the service breaker gives a permit (settled once when the request is over, however it ends) or
 * refuses while open, and a service with a bulkhead hands out a call slot (or queues, or refuses).
 */
import { BulkheadRejectedError } from "../../../src/lib/resilience";
import { UNGUARDED, type Permit, type UpstreamOutcomeError } from "../../../src/contracts/bus-topics";
import type { UpstreamErrorKind } from "../transport/upstream-client";
import type { CompiledRoute } from "./compiled-route";
import type { ProxyCore, Refusal } from "./pipeline";

/** The service breaker's verdict on this request (quarantine first): a permit, or the 503 refusal. */
export function admit(core: ProxyCore, route: CompiledRoute, requestId: string): Permit | Refusal {
  const permit = breakerVerdict(core, route);
  core.trace?.breaker(requestId, route, permit);
  return permit;
}

function breakerVerdict(core: ProxyCore, route: CompiledRoute): Permit | Refusal {
  const q = core.o.quarantine;
  if (q !== undefined && q.size !== 0) {
    const entry = q.get(route.svc.name);
    if (entry !== undefined) return { code: "GW_ERR_SERVICE_QUARANTINED", message: `service "${route.svc.name}" is quarantined: ${entry.reason}`, route };
  }
  const permit = core.o.bus.service("breaker.permit");
  if (permit === undefined) return UNGUARDED;
  const p = permit(route.svc.name);
  if (p.allowed) return p;
  return { code: "GW_ERR_CIRCUIT_OPEN", message: `the circuit breaker for service "${route.svc.name}" is ${p.state}`, route, headers: { "retry-after": String(Math.max(1, Math.ceil(p.retryAfterMs / 1000))) } };
}

/** An attempt's error as the breaker reads it: what the client did is "client", neither way. */
function outcomeError(err: UpstreamErrorKind | "unsent"): UpstreamOutcomeError {
  switch (err) {
    case "connect": case "timeout": case "reset": case "client": case "unsent": return err;
    case "body-limit": return "client";
    default: return "other";
  }
}

/**
 * The request is over (answered, refused, failed, or the client left): its permit learns how, once.
 * The service breaker sees requests, not attempts: the last attempt's result after retries and
 * failover (`status`, `err`), or `err` "unsent" when no attempt was made (no healthy instance,
 * bulkhead full, an exception first): a refusal of our own says nothing new about the upstream.
 */
export function settle(permit: Permit, status: number, latencyMs: number, err: UpstreamErrorKind | "unsent" | undefined): void {
  permit.settle(status, latencyMs, err === undefined ? undefined : outcomeError(err));
}

function bulkheadRefusal(route: CompiledRoute, why: "queue_full" | "queue_timeout"): Refusal {
  const b = route.svc.bulkhead!;
  const message = why === "queue_full"
    ? `service "${route.svc.name}" has ${b.maxConcurrent} calls in flight and ${b.maxQueue} queued`
    : `no call slot for service "${route.svc.name}" freed within ${b.queueTimeoutMs} ms`;
  return { code: "GW_ERR_BULKHEAD_FULL", message, headers: { "retry-after": "1" }, route };
}

/**
 * A call slot of the service's bulkhead: true when taken (pair it with `leave()`), a promise while
 * queued, or the refusal when the queue is full or the wait too long.
 */
export function enterBulkhead(route: CompiledRoute): true | Refusal | Promise<true | Refusal> {
  const bulkhead = route.svc.bulkhead!;
  if (bulkhead.tryEnter()) return true;
  if (bulkhead.queued >= bulkhead.maxQueue) return bulkheadRefusal(route, "queue_full");
  return bulkhead.enter().then(() => true as const, (e: unknown) => bulkheadRefusal(route, e instanceof BulkheadRejectedError ? e.reason : "queue_full"));
}
