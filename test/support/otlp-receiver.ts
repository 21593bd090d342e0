/**
 * A test receiver for OTLP/HTTP traces (JSON encoding): a Bun server on loopback that accepts
 * POST /v1/traces like a collector would and keeps the spans, flattened with their service.name.
 * Only what the tests read is decoded; anything not OTLP JSON answers 400 so a broken export fails.
 */
import type { Server } from "bun";

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Record<string, string | number | boolean>;
  status: { code: number; message?: string };
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  requests: number;
  /** Spans of one trace once `pred` holds for them (bounded wait). */
  waitFor(pred: (spans: ReceivedSpan[]) => boolean, ms?: number): Promise<ReceivedSpan[]>;
  stop(): void;
}

function attrValue(v: any): string | number | boolean {
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  throw new Error(`unsupported attribute value ${JSON.stringify(v)}`);
}

export function startOtlpReceiver(): OtlpReceiver {
  const r: OtlpReceiver = {
    url: "",
    spans: [],
    requests: 0,
    async waitFor(pred, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (pred(r.spans)) return r.spans;
        await Bun.sleep(50);
      }
      throw new Error(`OTLP receiver: condition not met in ${ms} ms; got ${r.spans.length} spans: ${r.spans.map((s) => `${s.service}/${s.name}`).join(", ")}`);
    },
    stop: () => server.stop(true),
  };
  const server: Server<undefined> = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/traces") return new Response("not found", { status: 404 });
      if (!req.headers.get("content-type")?.startsWith("application/json")) return new Response("json only", { status: 415 });
      try {
        const body = (await req.json()) as any;
        r.requests++;
        for (const rs of body.resourceSpans) {
          const service = attrValue(rs.resource.attributes.find((a: any) => a.key === "service.name").value) as string;
          for (const ss of rs.scopeSpans) for (const s of ss.spans) {
            if (!/^[0-9a-f]{32}$/.test(s.traceId) || !/^[0-9a-f]{16}$/.test(s.spanId)) throw new Error(`bad ids ${s.traceId}/${s.spanId}`);
            r.spans.push({
              service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, kind: s.kind,
              start: BigInt(s.startTimeUnixNano), end: BigInt(s.endTimeUnixNano),
              attributes: Object.fromEntries((s.attributes ?? []).map((a: any) => [a.key, attrValue(a.value)])),
              status: s.status ?? { code: 0 },
            });
          }
        }
        return Response.json({ partialSuccess: {} });
      } catch (err) {
        return new Response(`not OTLP JSON: ${err}`, { status: 400 });
      }
    },
  });
  r.url = `http://127.0.0.1:${server.port}`;
  return r;
}
