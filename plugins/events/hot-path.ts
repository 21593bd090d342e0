/**
 * The publish hot path, outside Elysia's router: POST /events is matched with a string compare and
 * handled here (parse → validate with precompiled checks → store); every other request goes to the
 * Elysia app. Same contract as the Elysia route: coded JSON errors, X-Request-Id echoed.
 */
import type { AnyElysia } from "elysia";
import { CodedError, jsonError } from "../../src/core/errors";
import { REQUEST_ID_RE, acceptRequestId, currentRequest } from "../../src/core/request-context";
import type { Logger } from "../../src/core/log";
import { EventErrors } from "./errors";
import { countRefusal, parseJson, readBody } from "./limits";
import type { EventMetrics } from "./metrics";
import { hasExplicitIds, type Publisher } from "./publisher";
import type { EventsConfig } from "./schema";
import { bodyDigest } from "./idempotency";
import { nowMs, SPAN_KIND, type Tracer } from "../../src/lib/trace/trace";
import { publishTraceparent } from "./tracing";

const DEPTH_SLACK = 10;

function isBatch(body: unknown): boolean {
  return Array.isArray(body) || (!!body && typeof body === "object" && Array.isArray((body as any).events) && !("type" in (body as any)));
}

/**
 * `tracer` (host.tracing on): a server span per publish, the store write as its child; the publish span's
 * traceparent is stored with the events (without a tracer: the caller's own traceparent, if it sent one).
 */
export function createPublishFetch(app: AnyElysia, publisher: Publisher, cfg: EventsConfig, log: Logger, metrics: EventMetrics, tracer?: Tracer) {
  const appFetch = (req: Request) => app.handle(req);
  // One body may be a single event or a batch: read up to the larger limit, then parseBody applies the right one.
  const bodyLimit = Math.max(cfg.max_batch_bytes, cfg.max_event_size);
  const bodyLimitName = cfg.max_batch_bytes >= cfg.max_event_size ? "max_batch_bytes" : "max_event_size";

  async function publish(req: Request): Promise<Response> {
    const given = req.headers.get("x-request-id");
    let requestId = given && REQUEST_ID_RE.test(given) ? given : undefined;
    const span = tracer?.server(req, "events.publish", { "messaging.system": "tradpal", "messaging.destination.name": cfg.stream });
    try {
      // Size, then depth on the raw text, then parse (limits.ts). The scan allows DEPTH_SLACK levels over
      // max_depth: a batch wrapper adds 2, and a batch event a few levels too deep is then named by index.
      const raw = await readBody(req, bodyLimit, EventErrors.EV_ERR_BODY_TOO_LARGE, bodyLimitName);
      const { value: body, depth } = parseJson(raw.text, cfg.max_depth + DEPTH_SLACK, cfg.max_depth);
      const events = publisher.parseBody(body, { source: req.headers.get("x-event-source") ?? cfg.default_source, correlationId: req.headers.get("x-correlation-id") ?? requestId }, { bytes: raw.bytes, depth });
      const key = publisher.checkIdempotencyKey(req.headers.get("idempotency-key"));
      // Stored with the events: delivery, ack and dead-letter spans join this trace (tracing.ts).
      const tp = publishTraceparent(req, span?.traceparent());
      if (tp !== undefined) for (const e of events) e.traceparent = tp;
      const t0 = span && nowMs();
      const r = await publisher.publish(events, key, hasExplicitIds(body), key ? bodyDigest(body) : undefined);
      if (span) tracer!.span(span.child, "events.store", SPAN_KIND.internal, t0!, nowMs(), { "messaging.batch.message_count": events.length, "tradpal.duplicate": r.duplicate });
      const ids = r.eventIds!; // a duplicate answers the first request's ids
      if (requestId === undefined) {
        // No X-Request-Id: the first event's id names the request, in the answer and in its log lines alike.
        const ctx = currentRequest();
        requestId = ctx?.requestId ?? ids[0];
        if (ctx !== undefined) ctx.requestId = requestId;
      }
      const out = events.length > 1 || isBatch(body)
        ? JSON.stringify({ count: events.length, ids, streamIds: r.streamIds, duplicate: r.duplicate })
        : `{"id":${JSON.stringify(ids[0])},"streamId":"${r.streamIds[0]}","duplicate":${r.duplicate}}`;
      span?.end({ "http.response.status_code": 201, "messaging.batch.message_count": events.length, "messaging.message.id": ids[0], "event.type": events[0]?.type });
      return new Response(out, { status: 201, headers: { "content-type": "application/json", "x-request-id": requestId } });
    } catch (err) {
      const headers = { "x-request-id": requestId ?? acceptRequestId(null) };
      if (err instanceof CodedError) {
        span?.end({ "http.response.status_code": err.status }, err.status >= 500 ? err.code : undefined);
        countRefusal(metrics, err);
        return err.toResponse(headers);
      }
      span?.end({ "http.response.status_code": 500 }, "EV_ERR_INTERNAL");
      log.error("publish failed", { err, trace_id: span?.traceId });
      return jsonError(500, "EV_ERR_INTERNAL", "internal error", undefined, undefined, headers);
    }
  }

  return (req: Request): Response | Promise<Response> => {
    if (req.method === "POST") {
      const url = req.url;
      const p = url.indexOf("/", url.indexOf("//") + 2);
      // exactly "/events" (a query string allowed)
      if (url.startsWith("/events", p) && (url.length === p + 7 || url.charCodeAt(p + 7) === 63)) return publish(req);
    }
    return appFetch(req);
  };
}
