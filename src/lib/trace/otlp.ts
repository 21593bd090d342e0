/**
 * OTLP/HTTP span export (the JSON encoding, POST <endpoint>/v1/traces, Content-Type application/json):
 * spans queue in memory and go out in one request per flush_interval (or when max_batch are waiting).
 * The queue is bounded (max_queue): when the collector is slow or gone, new spans are dropped and counted,
 * never held up — tracing must not take the platform down with it. One exporter per endpoint per process,
 * shared by every plugin and kept across reloads.
 */
import type { Attr, SpanRecord } from "./trace";

export interface TracingSettings {
  endpoint: string;
  sample_ratio: number;
  /** Milliseconds (decoded duration). */
  flush_interval: number;
  max_queue: number;
  headers: Record<string, string>;
}

export interface SpanExporter {
  push(service: string, span: SpanRecord): void;
  flush(): Promise<void>;
  readonly stats: { exported: number; dropped: number; failedRequests: number };
}

const MAX_BATCH = 1024;

function anyValue(v: Attr): Record<string, unknown> {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

/** Epoch ms → the nanosecond string OTLP wants; microseconds (< 2^53) are exact as a Number, no BigInt needed. */
const nanos = (ms: number): string => String(Math.round(ms * 1000)) + "000";

/** The ExportTraceServiceRequest for a batch, grouped by service (one resource each). */
export function otlpJson(batch: { service: string; span: SpanRecord }[]): unknown {
  const byService = new Map<string, SpanRecord[]>();
  for (const { service, span } of batch) {
    let list = byService.get(service);
    if (!list) byService.set(service, (list = []));
    list.push(span);
  }
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }, { key: "service.namespace", value: { stringValue: "tradpal" } }] },
      scopeSpans: [{
        scope: { name: "tradpal" },
        spans: spans.map((s) => ({
          traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name, kind: s.kind, startTimeUnixNano: nanos(s.start), endTimeUnixNano: nanos(Math.max(s.end, s.start)),
          attributes: Object.entries(s.attributes).filter(([, v]) => v !== undefined).map(([key, v]) => ({ key, value: anyValue(v as Attr) })),
          status: s.error !== undefined ? { code: 2, message: s.error } : { code: 0 },
        })),
      }],
    })),
  };
}

class OtlpHttpExporter implements SpanExporter {
  private queue: { service: string; span: SpanRecord }[] = [];
  private timer: ReturnType<typeof setInterval>;
  private sending: Promise<void> = Promise.resolve();
  readonly stats = { exported: 0, dropped: 0, failedRequests: 0 };
  private readonly url: string;

  constructor(private readonly s: TracingSettings) {
    const base = s.endpoint.replace(/\/+$/, "");
    this.url = base.endsWith("/v1/traces") ? base : base + "/v1/traces";
    this.timer = setInterval(() => void this.flush(), Math.max(10, s.flush_interval));
    (this.timer as { unref?: () => void }).unref?.(); // never keeps the process alive
  }

  push(service: string, span: SpanRecord): void {
    if (this.queue.length >= this.s.max_queue) { this.stats.dropped++; return; }
    this.queue.push({ service, span });
    if (this.queue.length >= MAX_BATCH) void this.flush();
  }

  /** Send what is queued (one request at a time, in order). */
  flush(): Promise<void> {
    this.sending = this.sending.then(async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const res = await fetch(this.url, {
            method: "POST",
            headers: { "content-type": "application/json", ...this.s.headers },
            body: JSON.stringify(otlpJson(batch)),
            signal: AbortSignal.timeout(5000),
          });
          await res.arrayBuffer();
          if (res.ok) this.stats.exported += batch.length;
          else { this.stats.failedRequests++; this.stats.dropped += batch.length; }
        } catch {
          this.stats.failedRequests++;
          this.stats.dropped += batch.length;
        }
      }
    });
    return this.sending;
  }
}

const exporters = new Map<string, OtlpHttpExporter>();

/** The process's exporter for these settings (same endpoint → same exporter, its queue and timer). */
export function exporterFor(s: TracingSettings): SpanExporter {
  const key = JSON.stringify([s.endpoint, s.headers, s.flush_interval, s.max_queue]);
  let e = exporters.get(key);
  if (!e) exporters.set(key, (e = new OtlpHttpExporter(s)));
  return e;
}

/** Flush every exporter of this process (shutdown; tests). */
export function flushTraces(): Promise<void> {
  return Promise.all([...exporters.values()].map((e) => e.flush())).then(() => undefined);
}
