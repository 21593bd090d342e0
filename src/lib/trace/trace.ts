/**
 * Tracing: W3C trace context in, spans out over OTLP/HTTP (src/lib/trace/otlp.ts) when host.tracing.endpoint
 * is set. Off (no endpoint) means tracerFor() returns undefined and every hook is `tracer?.x()`: nothing
 * runs, nothing is allocated.
 *
 * Why not the @opentelemetry SDK: the plugins' hooks already know when each piece of work starts and ends
 * (the gateway's decision hooks, the events publish path), so a span here is a plain object pushed to a
 * batch; the SDK's context manager, span processors and per-span objects would cost on the hot path what
 * this does not, for the same OTLP on the wire (the JSON encoding of OTLP 1.x, which every collector takes).
 *
 * Sampling is parent-based: a caller's sampled flag is followed both ways; a new trace is recorded with
 * probability host.tracing.sample_ratio, and an unsampled one still gets a traceparent (flags 00) so the
 * next hop does not start its own.
 */
import type { HostSettings } from "../../config/host-schema";
import { exporterFor, type SpanExporter } from "./otlp";
import { noteSpan } from "../../core/request-context";
import { parseTraceparent, formatTraceparent, randomHex } from "./context";
export { parseTraceparent, formatTraceparent, randomHex };

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
export type Attr = string | number | boolean;

export interface TraceContext {
  traceId: string;
  /** The span this process's work hangs under (a caller's span, or our own server span). */
  spanId: string;
  sampled: boolean;
  /** The caller's tracestate, passed on unchanged (we add no entry of our own). */
  tracestate?: string;
}

/** A finished span, times in epoch milliseconds (fractional). */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  start: number;
  end: number;
  attributes: Record<string, Attr | undefined>;
  /** Set: the span ended in error (OTLP status ERROR with this message). */
  error?: string;
}

/** A new trace that is not recorded (shared, never mutated). */
const UNSAMPLED: TraceContext = Object.freeze({ traceId: "", spanId: "", sampled: false });

/** Epoch milliseconds with sub-millisecond precision (span timestamps). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export class Tracer {
  constructor(readonly service: string, readonly ratio: number, private readonly exporter: SpanExporter) {}

  /**
   * The context of a request arriving with these headers: the caller's trace and sampled flag, or a new
   * trace sampled at the configured ratio. spanId is the caller's span (the parent of ours).
   */
  incoming(traceparent: string | null | undefined, tracestate?: string | null): TraceContext {
    const p = parseTraceparent(traceparent);
    if (p !== undefined) return { traceId: p.traceId, spanId: p.spanId, sampled: p.sampled, tracestate: tracestate ?? undefined };
    // A new trace not recorded (most of them at a low ratio) allocates nothing: its id is minted where it is sent on.
    if (!(this.ratio >= 1 || (this.ratio > 0 && Math.random() < this.ratio))) return UNSAMPLED;
    return { traceId: randomHex(32), spanId: "", sampled: true };
  }

  /** Queue a finished span for export (unsampled traces never get here: callers check ctx.sampled). */
  record(span: SpanRecord): void {
    this.exporter.push(this.service, span);
  }

  /** A span whose start and end the caller knows; returns its id (a parent for children). */
  span(ctx: TraceContext, name: string, kind: number, start: number, end: number, attributes: Record<string, Attr | undefined>, error?: string, spanId?: string): string {
    if (!ctx.sampled) return spanId ?? ""; // nothing recorded, no id minted
    const id = spanId ?? randomHex(16);
    this.record({ traceId: ctx.traceId, spanId: id, parentSpanId: ctx.spanId || undefined, name, kind, start, end, attributes, error });
    return id;
  }

  /**
   * A server span for a request handled by an Elysia/fetch handler: call end() when the answer is known.
   * `child` is the context for work under it and for outgoing calls (traceparent()).
   */
  server(request: Request, name: string, attributes: Record<string, Attr | undefined> = {}): ServerSpan {
    return this.serverOf(request.headers, name, attributes);
  }

  /** The same from a request's headers (a wire-lane request has no Request object). */
  serverOf(headers: { get(name: string): string | null }, name: string, attributes: Record<string, Attr | undefined> = {}): ServerSpan {
    const parent = this.incoming(headers.get("traceparent"), headers.get("tracestate"));
    const span = new ServerSpan(this, parent.traceId === "" ? { ...parent, traceId: randomHex(32) } : parent, name, attributes);
    noteSpan(span.traceId, parent.sampled ? span.spanId : undefined); // the request's log lines name this span (request-context.ts)
    return span;
  }
}

export class ServerSpan {
  readonly start = nowMs();
  readonly spanId = randomHex(16);
  readonly child: TraceContext;
  constructor(private readonly tracer: Tracer, private readonly parent: TraceContext, private readonly name: string, readonly attributes: Record<string, Attr | undefined>) {
    this.child = { traceId: parent.traceId, spanId: this.spanId, sampled: parent.sampled, tracestate: parent.tracestate };
  }
  get traceId(): string { return this.parent.traceId; }
  /** The header for a call made as part of this span's work. */
  traceparent(): string { return formatTraceparent(this.parent.traceId, this.spanId, this.parent.sampled); }
  end(attributes: Record<string, Attr | undefined> = {}, error?: string): void {
    this.tracer.span(this.parent, this.name, SPAN_KIND.server, this.start, nowMs(), { ...this.attributes, ...attributes }, error, this.spanId);
  }
}

/** Per process, per plugin: undefined when tracing is off (host.tracing.endpoint empty). */
export function tracerFor(host: HostSettings, plugin: string): Tracer | undefined {
  const t = host.tracing;
  if (t === undefined || t.endpoint === "") return undefined;
  return new Tracer(`tradpal-${plugin}`, t.sample_ratio, exporterFor(t));
}
