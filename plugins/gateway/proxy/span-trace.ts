/**
 * The gateway's spans, built from the same per-request hooks as the debug decision log (decision-log.ts),
 * so both lanes (fetch and wire) are traced by the calls they already make:
 *
 *   gateway <METHOD> <route>   SERVER, child of the caller's traceparent: status, error code, attempts
 *     gateway.route            the service/route the path matched
 *     gateway.auth             the edge's authentication verdict (subject and how, never the credential)
 *     gateway.rate_limit       the limiter's verdict and policy
 *     gateway.breaker          the service breaker's answer (permitted / refused / unguarded)
 *     gateway.upstream         CLIENT, one per attempt: attempt number, instance, status or error
 *     gateway.retry_budget     a failed attempt asked for a retry: granted or refused
 *
 * The traceparent sent upstream names the first attempt's span, so the upstream's work hangs under it
 * (a retry sends the same headers: its upstream work shows under attempt 1). tracestate passes through
 * with the client's other headers. Per-request state lives from route() to done() in a bounded map, for
 * sampled requests only: an unsampled one (99 % of them at sample_ratio 0.01) costs a header parse, a coin
 * toss and, when it starts a trace, a minted traceparent with flags 00 — nothing is stored for it.
 */
import { UNGUARDED, type Permit } from "../../../src/contracts/bus-topics";
import { noteSpan } from "../../../src/core/request-context";
import { formatTraceparent, nowMs, parseTraceparent, randomHex, SPAN_KIND, type TraceContext, type Tracer } from "../../../src/lib/trace/trace";
import type { Member } from "./balancers";
import { authVerdict, limiterVerdict, type DecisionLog } from "./decision-log";
import type { EdgeDecision } from "../edge-policy/contract";
import type { CompiledRoute } from "./compiled-route";

type Admission = Permit | { code: string; message: string };
type Headers = { get(name: string): string | null };

/** What ProxyCore calls per request: the decision log, the span trace, or both. */
export interface ProxyTrace {
  route(requestId: string, method: string, path: string, route: CompiledRoute, headers?: Headers): void;
  edge(requestId: string, route: CompiledRoute, d: EdgeDecision | Promise<EdgeDecision>): void;
  breaker(requestId: string, route: CompiledRoute, a: Admission): void;
  instance(requestId: string, route: CompiledRoute, attempt: number, member: Member | undefined, excluded: Member | undefined, lastStatus: number, lastErr: string | undefined): void;
  retry(requestId: string, route: CompiledRoute, granted: boolean): void;
  done(requestId: string, route: CompiledRoute | undefined, status: number, member: Member | undefined, attempts: number | undefined, code: string | undefined): void;
  /** The traceparent to send upstream, given the client's (undefined: the gateway mints one as without tracing). */
  traceparent?(requestId: string, incoming: string | null): string | undefined;
  /** The request's trace id, for its access log line. */
  traceIdOf?(requestId: string): string | undefined;
}

interface RequestSpans {
  parent: TraceContext;
  /** Context for the gateway's child spans (spanId = the server span). */
  ctx: TraceContext;
  start: number;
  method: string;
  path: string;
  firstAttemptId?: string;
  attempt?: { id: string; n: number; start: number; instance: string };
}

const MAX_OPEN = 50_000;

export class SpanTrace implements ProxyTrace {
  private readonly open = new Map<string, RequestSpans>();
  constructor(private readonly tracer: Tracer) {}

  route(requestId: string, method: string, path: string, route: CompiledRoute, headers?: Headers): void {
    const parent = this.tracer.incoming(headers?.get("traceparent"));
    if (!parent.sampled) return;
    if (parent.spanId !== "") parent.tracestate = headers?.get("tracestate") ?? undefined; // only a caller's trace has one
    const start = nowMs();
    const r: RequestSpans = { parent, ctx: { ...parent, spanId: randomHex(16) }, start, method, path };
    if (this.open.size >= MAX_OPEN) this.open.delete(this.open.keys().next().value!); // a request that never finished
    this.open.set(requestId, r);
    noteSpan(parent.traceId, r.ctx.spanId); // the request's log lines name the gateway's server span
    this.tracer.span(r.ctx, "gateway.route", SPAN_KIND.internal, start, start, { "tradpal.service": route.svc.name, "tradpal.route": route.id, "tradpal.prefix": route.prefix });
  }

  edge(requestId: string, route: CompiledRoute, d: EdgeDecision | Promise<EdgeDecision>): void {
    const r = this.open.get(requestId);
    if (r === undefined || !r.parent.sampled) return;
    const start = nowMs();
    const record = (x: EdgeDecision) => {
      const end = nowMs();
      const auth = authVerdict(x, route), limiter = limiterVerdict(x);
      this.tracer.span(r.ctx, "gateway.auth", SPAN_KIND.internal, start, end, { "tradpal.auth": String(auth.auth), "enduser.id": auth.subject as string | undefined, "tradpal.auth.via": auth.via as string | undefined });
      this.tracer.span(r.ctx, "gateway.rate_limit", SPAN_KIND.internal, start, end, {
        "tradpal.limiter": String(limiter.limiter), "tradpal.limiter.policy": limiter.limiter_policy as string | undefined, "tradpal.limiter.remaining": limiter.limiter_remaining as number | undefined,
      });
    };
    if (d instanceof Promise) d.then(record, () => undefined);
    else record(d);
  }

  breaker(requestId: string, route: CompiledRoute, a: Admission): void {
    const r = this.open.get(requestId);
    if (r === undefined || !r.parent.sampled) return;
    const t = nowMs();
    const verdict = "code" in a ? "refused" : a === UNGUARDED ? "unguarded" : "permitted";
    this.tracer.span(r.ctx, "gateway.breaker", SPAN_KIND.internal, t, t, { "tradpal.breaker": route.svc.name, "tradpal.breaker.verdict": verdict });
  }

  traceparent(requestId: string, incoming: string | null): string | undefined {
    const r = this.open.get(requestId);
    // Unsampled: a caller's trace goes on as minted without tracing (its flags kept); a new one goes on as 00.
    if (r === undefined) {
      if (parseTraceparent(incoming) !== undefined) return undefined;
      const traceId = randomHex(32);
      noteSpan(traceId, undefined); // a trace starts here, unsampled: the log lines still name it
      return formatTraceparent(traceId, randomHex(16), false);
    }
    r.firstAttemptId = randomHex(16);
    return formatTraceparent(r.parent.traceId, r.firstAttemptId, r.parent.sampled);
  }

  instance(requestId: string, route: CompiledRoute, attempt: number, member: Member | undefined, _excluded: Member | undefined, lastStatus: number, lastErr: string | undefined): void {
    const r = this.open.get(requestId);
    if (r === undefined || !r.parent.sampled) return;
    const t = nowMs();
    if (r.attempt !== undefined) this.endAttempt(r, route, t, lastStatus, lastErr);
    if (member === undefined) return;
    const id = attempt === 0 && r.firstAttemptId !== undefined ? r.firstAttemptId : randomHex(16);
    r.attempt = { id, n: attempt + 1, start: t, instance: member.url };
  }

  retry(requestId: string, route: CompiledRoute, granted: boolean): void {
    const r = this.open.get(requestId);
    if (r === undefined || !r.parent.sampled) return;
    const t = nowMs();
    this.tracer.span(r.ctx, "gateway.retry_budget", SPAN_KIND.internal, t, t, { "tradpal.service": route.svc.name, "tradpal.retry": granted ? "granted" : "refused" });
  }

  done(requestId: string, route: CompiledRoute | undefined, status: number, _member: Member | undefined, attempts: number | undefined, code: string | undefined): void {
    const r = this.open.get(requestId);
    if (r === undefined) return;
    this.open.delete(requestId);
    if (!r.parent.sampled) return;
    const t = nowMs();
    if (r.attempt !== undefined && route !== undefined) this.endAttempt(r, route, t, status, code);
    this.tracer.span(r.parent, `gateway ${r.method} ${route?.id ?? "unrouted"}`, SPAN_KIND.server, r.start, t, {
      "http.request.method": r.method, "url.path": r.path, "http.response.status_code": status, "tradpal.service": route?.svc.name, "tradpal.route": route?.id,
      "tradpal.attempts": attempts, "tradpal.error_code": code, "tradpal.request_id": requestId,
    }, status >= 500 ? (code ?? `HTTP ${status}`) : undefined, r.ctx.spanId);
  }

  traceIdOf(requestId: string): string | undefined {
    return this.open.get(requestId)?.parent.traceId;
  }

  private endAttempt(r: RequestSpans, route: CompiledRoute, t: number, status: number, err: string | undefined): void {
    const a = r.attempt!;
    r.attempt = undefined;
    const failed = status === 0 || status >= 500;
    this.tracer.span(r.ctx, "gateway.upstream", SPAN_KIND.client, a.start, t, {
      "tradpal.service": route.svc.name, "tradpal.attempt": a.n, "server.address": a.instance, "http.response.status_code": status || undefined, "tradpal.upstream.error": err,
    }, failed ? (err ?? `HTTP ${status}`) : undefined, a.id);
  }
}

/** Both hooks when debug logging and tracing are on. */
class BothTraces implements ProxyTrace {
  constructor(private readonly log: DecisionLog, private readonly spans: SpanTrace) {}
  // Spans first: a trace started here is noted for the request's log lines before its first decision line.
  route(id: string, m: string, p: string, r: CompiledRoute, h?: Headers) { this.spans.route(id, m, p, r, h); this.log.route(id, m, p, r); }
  edge(id: string, r: CompiledRoute, d: EdgeDecision | Promise<EdgeDecision>) { this.log.edge(id, r, d); this.spans.edge(id, r, d); }
  breaker(id: string, r: CompiledRoute, a: Admission) { this.log.breaker(id, r, a); this.spans.breaker(id, r, a); }
  instance(id: string, r: CompiledRoute, n: number, m: Member | undefined, x: Member | undefined, s: number, e: string | undefined) { this.log.instance(id, r, n, m, x, s, e); this.spans.instance(id, r, n, m, x, s, e); }
  retry(id: string, r: CompiledRoute, g: boolean) { this.log.retry(id, r, g); this.spans.retry(id, r, g); }
  done(id: string, r: CompiledRoute | undefined, s: number, m: Member | undefined, n: number | undefined, c: string | undefined) { this.spans.done(id, r, s, m, n, c); this.log.done(id, r, s, m, n, c); }
  traceparent(id: string, incoming: string | null) { return this.spans.traceparent(id, incoming); }
  traceIdOf(id: string) { return this.spans.traceIdOf(id); }
}

/** undefined when neither is on: `trace?.x()` then costs nothing. */
export function proxyTrace(log: DecisionLog | undefined, tracer: Tracer | undefined): ProxyTrace | undefined {
  if (tracer === undefined) return log;
  const spans = new SpanTrace(tracer);
  return log === undefined ? spans : new BothTraces(log, spans);
}
