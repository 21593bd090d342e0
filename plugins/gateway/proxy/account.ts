/**
 * The last stage of the walk, account: once per answered request, whatever answered it (the
 * upstream, a refusal, a fallback, the edge): requests_total by status class, the call graph
 * (topology), the trace's end, and the sampled access log line.
 */
import { statusClass } from "../metrics";
import type { Member } from "./balancers";
import type { CompiledRoute } from "./compiled-route";
import type { Call, ProxyCore } from "./pipeline";
import { turnEpochNow, turnMonoNow } from "../../../src/lib/turn-queue";

/**
 * Who is calling, for the call graph: the platform identity (SPIFFE ID of the client certificate),
 * else the subject of the edge's verified credential, else the client's address.
 */
export function callerOf(call: Call): string {
  if (call.peerId !== undefined && call.peerId !== "") return call.peerId;
  const principal = call.decision?.principal;
  if (principal !== undefined && principal.via !== "anonymous") return principal.subject;
  return call.clientIp;
}

/** Count the answer and write the sampled access log line. `code`: the gateway's own error code, when it answered itself. */
export function account(core: ProxyCore, call: Call, route: CompiledRoute | undefined, status: number, member?: Member, attempts?: number, code?: string): void {
  const o = core.o;
  const cells = route ? route.statusCells : o.unroutedCells;
  cells[statusClass(status)].value++;
  // The clocks of the turn that answered (src/lib/turn-queue.ts: one reading per turn, ~40 ns each).
  const ms = (call.endedAt || turnMonoNow()) - call.t0;
  const now = turnEpochNow();
  if (route !== undefined) o.topology?.record(callerOf(call), route.id, route.svc.name, member?.url ?? "(none)", status, ms, now);
  const requestId = call.requestId;
  // Asked of the trace before done() ends its span; the context's id only for a line that is written.
  const spanTrace = core.trace?.traceIdOf?.(requestId);
  core.trace?.done(requestId, route, status, member, attempts, code);
  if (o.accessLog.wants(status, code !== undefined, now)) {
    const traceId = spanTrace ?? call.ctx?.trace();
    o.accessLog.write({
      method: call.method, path: call.path, status, service: route?.svc.name ?? "-", route: route?.id ?? "-",
      instance: member?.url, ms: Math.round(ms * 100) / 100, request_id: requestId, trace_id: traceId, client: call.clientIp, attempts, code,
    });
  }
}
