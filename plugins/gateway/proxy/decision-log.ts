/**
 * DEBUG logging of the proxy's per-request decisions (host.log_level debug / LOG_LEVEL=DEBUG): one JSON
 * line per decision, all carrying the request's `request_id`, so `grep <id>` tells the whole story:
 *
 *   route     which service/route the path matched (or the refusal in `done`)
 *   edge      auth verdict (subject and how it proved itself, never the credential) and limiter verdict
 *   breaker   the service breaker's answer: permitted, refused (open), or unguarded (no breaker plugin)
 *   instance  the instance picked for attempt n, the one excluded after a failed attempt, how many are usable
 *   retry     a failed attempt is retried, or the retry budget refused it
 *   done      status, error code, attempts and the last instance
 *
 * Cost when debug is off: ProxyCore.trace is undefined (decided once per gateway instance; a log-level
 * change rebuilds every plugin), and `trace?.x(...)` evaluates nothing, not even its arguments.
 * Nothing from the request's headers is written here: tokens, API keys and cookies cannot leak.
 */
import { UNGUARDED, type Permit } from "../../../src/contracts/bus-topics";
import type { Logger } from "../../../src/core/log";
import { currentRequest, type RequestContext } from "../../../src/core/request-context";
import type { Member } from "./balancers";
import type { EdgeDecision } from "../edge-policy/contract";
import type { CompiledRoute } from "./compiled-route";
import { isAvailable } from "../upstream-state";

/** What ProxyCore.admit returns, structurally (a refusal has a code). */
type Admission = Permit | { code: string; message: string };

export function limiterVerdict(d: EdgeDecision): Record<string, unknown> {
  const r = d.rate;
  if (r === undefined) return { limiter: d.reject !== undefined && d.reject.status !== 429 ? "not reached" : "off" };
  return r.allowed
    ? { limiter: "allowed", limiter_policy: d.ratePolicy, limiter_remaining: r.remaining }
    : { limiter: "refused", limiter_policy: d.ratePolicy, limiter_retry_after_ms: r.retryAfterMs };
}

export function authVerdict(d: EdgeDecision, route: CompiledRoute): Record<string, unknown> {
  const p = d.principal;
  if (p !== undefined) return { auth: d.reject !== undefined && d.reject.status === 403 ? "refused: scope" : "ok", subject: p.subject, via: p.via };
  if (d.reject !== undefined && (d.reject.status === 401 || d.reject.status === 403)) return { auth: `refused: ${d.reject.status}` };
  return { auth: route.edge.authRequired ? "not checked" : "not required" };
}

export class DecisionLog {
  /**
   * Each routed request's context (src/core/request-context.ts) from route() to done(): the later lines are
   * written from upstream socket callbacks, which run in whatever context created the (pooled) socket, so
   * they name the request's trace and span themselves. Debug only; bounded.
   */
  private readonly contexts = new Map<string, RequestContext>();
  constructor(private readonly log: Logger) {}

  private line(requestId: string, decision: string, fields: Record<string, unknown>): void {
    const c = this.contexts.get(requestId);
    this.log.debug("proxy decision", { request_id: requestId, decision, ...(c ? { trace_id: c.trace(), span_id: c.spanId } : {}), ...fields });
  }

  route(requestId: string, method: string, path: string, route: CompiledRoute): void {
    const c = currentRequest();
    if (c !== undefined) {
      if (this.contexts.size >= 10_000) this.contexts.delete(this.contexts.keys().next().value!);
      this.contexts.set(requestId, c);
    }
    this.line(requestId, "route", { method, path, service: route.svc.name, route: route.id, prefix: route.prefix, auth_required: route.edge.authRequired });
  }

  /** The edge's verdict; a pending one is logged when it settles (an extra `then` only while debugging). */
  edge(requestId: string, route: CompiledRoute, d: EdgeDecision | Promise<EdgeDecision>): void {
    if (d instanceof Promise) { d.then((x) => this.edge(requestId, route, x), () => undefined); return; }
    this.line(requestId, "edge", { service: route.svc.name, ...authVerdict(d, route), ...limiterVerdict(d), ...(d.reject ? { refused_status: d.reject.status } : {}) });
  }

  breaker(requestId: string, route: CompiledRoute, a: Admission): void {
    const verdict = "code" in a ? "refused" : a === UNGUARDED ? "unguarded" : "permitted";
    this.line(requestId, "breaker", { service: route.svc.name, breaker: verdict, ...("code" in a ? { reason: a.message } : {}) });
  }

  /** Attempt `attempt` (0-based) goes to `member`; after a failed one, `lastStatus`/`lastErr` say how it failed. */
  instance(requestId: string, route: CompiledRoute, attempt: number, member: Member | undefined, excluded: Member | undefined, lastStatus: number, lastErr: string | undefined): void {
    const members = route.svc.members;
    const now = Date.now();
    let usable = 0;
    for (const m of members) if (isAvailable(m.state, now)) usable++;
    this.line(requestId, "instance", {
      service: route.svc.name, attempt: attempt + 1, instance: member?.url ?? null,
      ...(attempt > 0 ? { excluded: excluded?.url, previous_outcome: lastErr ?? lastStatus } : {}),
      usable, members: members.length, balancer: route.svc.settings.load_balancing,
    });
  }

  /** A retryable failure asked the service's retry budget. */
  retry(requestId: string, route: CompiledRoute, granted: boolean): void {
    this.line(requestId, "retry", { service: route.svc.name, retry: granted ? "granted" : "refused by the retry budget" });
  }

  done(requestId: string, route: CompiledRoute | undefined, status: number, member: Member | undefined, attempts: number | undefined, code: string | undefined): void {
    this.line(requestId, "done", { service: route?.svc.name ?? null, status, ...(code ? { code } : {}), ...(attempts ? { attempts } : {}), ...(member ? { instance: member.url } : {}) });
    this.contexts.delete(requestId);
  }
}
