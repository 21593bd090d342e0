/**
 * The falco plugin's spans (issue 18), exported over OTLP/HTTP when host.tracing.endpoint is set and joined
 * to the caller's traceparent (Falco itself sends none; falcosidekick or a relay may):
 *
 *   falco POST <path>        SERVER, one per intake request (POST /, /falco/alerts, /test; both lanes):
 *                            status, alerts accepted, error code
 *     falco.fold             the batch through the pipeline: alerts, folded into open groups, new groups,
 *                            notifications announced at once
 *     falco.response         a response policy quarantined (or, dry run, would) a service: mode, service, rule
 *       falco.response.revoke  CLIENT: the security plugin's revoke call, traceparent sent (its span joins)
 *     falco.output           CLIENT: one delivery attempt of a notice to an output, traceparent sent on
 *
 * An alert keeps its intake span's context (sampled traces only); a notice takes its group's sample alert's,
 * so a notice announced later (group_wait, end of window) still lands in the trace of the alert it stands
 * for. Without a tracer, or for an unsampled trace, none of this runs: the hooks are `tracer?.` and
 * `trace?.sampled` checks.
 */
import { formatTraceparent, nowMs, randomHex, SPAN_KIND, type ServerSpan, type TraceContext, type Tracer } from "../../src/lib/trace/trace";
import type { HeaderView } from "../../src/core/request-context";

/** The server span of an intake request ("falco POST /falco/alerts"); undefined without a tracer. */
export function intakeSpan(tracer: Tracer | undefined, headers: HeaderView, path: string, lane: "fetch" | "wire"): ServerSpan | undefined {
  return tracer?.serverOf(headers, `falco POST ${path}`, { "http.request.method": "POST", "http.route": path, "tradpal.lane": lane });
}

/** End an intake span with its answer. */
export function endIntake(span: ServerSpan | undefined, status: number, body: string): void {
  if (span === undefined) return;
  const accepted = status === 200 ? /"accepted":(\d+)/.exec(body) : null;
  const code = status !== 200 ? /"code":"([A-Z_]+)"/.exec(body) : null;
  span.end({ "http.response.status_code": status, "tradpal.falco.accepted": accepted ? Number(accepted[1]) : undefined, "tradpal.error_code": code?.[1] }, status >= 500 ? (code?.[1] ?? `HTTP ${status}`) : undefined);
}

export function foldSpan(tracer: Tracer, ctx: TraceContext, start: number, alerts: number, folded: number, groups: number, notices: number): void {
  tracer.span(ctx, "falco.fold", SPAN_KIND.internal, start, nowMs(), {
    "tradpal.falco.alerts": alerts, "tradpal.falco.folded": folded, "tradpal.falco.new_groups": groups, "tradpal.falco.notifications": notices,
  });
}

/** A span whose id is known before it ends (a parent for children, a traceparent to send). */
export interface OpenSpan { ctx: TraceContext; id: string; start: number; child: TraceContext; traceparent: string }

/** Open a span under `ctx` when it is sampled and a tracer is there; undefined otherwise (nothing to do). */
export function openSpan(tracer: Tracer | undefined, ctx: TraceContext | undefined): OpenSpan | undefined {
  if (tracer === undefined || ctx === undefined || !ctx.sampled) return undefined;
  const id = randomHex(16);
  return { ctx, id, start: nowMs(), child: { ...ctx, spanId: id }, traceparent: formatTraceparent(ctx.traceId, id, true) };
}

export function closeSpan(tracer: Tracer, s: OpenSpan, name: string, kind: number, attributes: Record<string, string | number | boolean | undefined>, error?: string): void {
  tracer.span(s.ctx, name, kind, s.start, nowMs(), attributes, error, s.id);
}
