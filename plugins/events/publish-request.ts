/**
 * POST /events, independent of the transport: headers and the body's text in, status + JSON text +
 * headers out. The one definition of the publish contract (coded JSON errors, X-Request-Id, the
 * Idempotency-Key, tracing spans, the request's log context), used by both lanes: the fetch lane
 * (hot-path.ts, a Request) and the host's raw HTTP/1.1 lane (publish-wire.ts, bytes).
 */
import { CodedError } from "../../src/core/errors";
import { REQUEST_ID_RE, acceptRequestId, currentRequest, runInRequest } from "../../src/core/request-context";
import type { Logger } from "../../src/core/log";
import { countRefusal, parseJson, type Body } from "./limits";
import type { EventMetrics } from "./metrics";
import { hasExplicitIds, type Publisher, type PublishDone, type PublishOutcome } from "./publisher";
import type { NewEvent } from "./store/types";
import type { EventsConfig } from "./schema";
import { bodyDigest } from "./idempotency";
import { nowMs, SPAN_KIND, type Tracer } from "../../src/lib/trace/trace";
import { publishTraceparent } from "./tracing";

const DEPTH_SLACK = 10;

export interface HeaderGetter { get(name: string): string | null }

/**
 * One publish request as a lane hands it over: its body (read() gives it, limits.ts readBody on the fetch
 * lane, the bytes that came with the head on the raw lane, or throws the coded 413) and where its answer
 * goes (answer(), called once; it must not throw). One object per request, not a closure for each.
 */
export interface PublishExchange {
  read(): Body | Promise<Body>;
  answer(a: PublishAnswer): void;
}

export interface PublishAnswer {
  status: number;
  /** JSON text. */
  body: string;
  requestId: string;
  /**
   * A refusal's fields: content-type, the error's own (retry-after on 503, connection: close on a 413 for
   * size), x-request-id. Undefined on a 201, whose fields are content-type and x-request-id only
   * (answerFields): no object per publish where the raw lane writes them as a precomputed line.
   */
  headers?: Record<string, string>;
}

/** The answer's header fields, as given (refusals) or those of a 201. */
export function answerFields(a: PublishAnswer): Record<string, string> {
  return a.headers ?? { "content-type": "application/json", "x-request-id": a.requestId };
}

function isBatch(body: unknown): boolean {
  return Array.isArray(body) || (!!body && typeof body === "object" && Array.isArray((body as any).events) && !("type" in (body as any)));
}

/** The body limit of POST /events: a body may be one event or a batch, so the larger limit; parseBody applies the right one. */
export function publishBodyLimit(cfg: EventsConfig): { limit: number; name: string } {
  return cfg.max_batch_bytes >= cfg.max_event_size
    ? { limit: cfg.max_batch_bytes, name: "max_batch_bytes" }
    : { limit: cfg.max_event_size, name: "max_event_size" };
}

/**
 * `tracer` (host.tracing on): a server span per publish, the store write as its child; the publish span's
 * traceparent is stored with the events (without a tracer: the caller's own traceparent, if it sent one).
 * Not async: a body that is already here is parsed and validated in
 * the call, and the store answers through a callback object (Job), not a promise chain: every promise,
 * reaction closure and microtask per publish is garbage the server's eden GCs must collect.
 */
export function createPublishRequest(publisher: Publisher, cfg: EventsConfig, log: Logger, metrics: EventMetrics, tracer?: Tracer) {
  type Span = ReturnType<NonNullable<typeof tracer>["serverOf"]>;

  function refused(err: unknown, requestId: string | undefined, span: Span | undefined): PublishAnswer {
    const id = requestId ?? acceptRequestId(null);
    if (err instanceof CodedError) {
      span?.end({ "http.response.status_code": err.status }, err.status >= 500 ? err.code : undefined);
      countRefusal(metrics, err);
      return { status: err.status, body: JSON.stringify(err.toBody()), requestId: id, headers: { "content-type": "application/json", ...err.headers, "x-request-id": id } };
    }
    span?.end({ "http.response.status_code": 500 }, "EV_ERR_INTERNAL");
    log.error("publish failed", { err, trace_id: span?.traceId });
    return { status: 500, body: JSON.stringify({ error: { code: "EV_ERR_INTERNAL", message: "internal error" } }), requestId: id, headers: { "content-type": "application/json", "x-request-id": id } };
  }

  function stored(events: NewEvent[], body: unknown, r: PublishOutcome, requestId: string | undefined, span: Span | undefined, t0: number | undefined): PublishAnswer {
    if (span) tracer!.span(span.child, "events.store", SPAN_KIND.internal, t0!, nowMs(), { "messaging.batch.message_count": events.length, "tradpal.duplicate": r.duplicate });
    const ids = r.eventIds!; // a duplicate answers the first request's ids
    if (requestId === undefined) {
      // No X-Request-Id: the first event's id names the request, in the answer and in its log lines alike
      // (when it passes the header's rule: a publisher-chosen id may hold any character, CR LF included).
      const ctx = currentRequest();
      requestId = ctx?.requestId ?? (REQUEST_ID_RE.test(ids[0]) ? ids[0] : acceptRequestId(null));
      if (ctx !== undefined) ctx.requestId = requestId;
    }
    const out = events.length > 1 || isBatch(body)
      ? JSON.stringify({ count: events.length, ids, streamIds: r.streamIds, duplicate: r.duplicate })
      : `{"id":${JSON.stringify(ids[0])},"streamId":"${r.streamIds[0]}","duplicate":${r.duplicate}}`;
    span?.end({ "http.response.status_code": 201, "messaging.batch.message_count": events.length, "messaging.message.id": ids[0], "event.type": events[0]?.type });
    return { status: 201, body: out, requestId };
  }

  /**
   * A publish waiting for its store (Publisher.publishTo): one object per publish instead of a promise
   * chain. A store settles a coalesced call's publishes from one callback, which carries no request's
   * context (or another's): each answer is made in its own request's (its request id and log lines).
   */
  class Job implements PublishDone {
    private readonly ctx = currentRequest();
    constructor(readonly events: NewEvent[], readonly body: unknown, readonly requestId: string | undefined, readonly span: Span | undefined, readonly t0: number | undefined, readonly ex: PublishExchange) {}
    stored(r: PublishOutcome): void {
      if (this.ctx !== undefined && currentRequest() !== this.ctx) runInRequest(this.ctx, answerStored, this, r);
      else answerStored(this, r);
    }
    failed(err: unknown): void {
      if (this.ctx !== undefined && currentRequest() !== this.ctx) runInRequest(this.ctx, answerRefused, this, err);
      else answerRefused(this, err);
    }
  }

  function answerStored(job: Job, r: PublishOutcome): void {
    let a: PublishAnswer;
    try { a = stored(job.events, job.body, r, job.requestId, job.span, job.t0); } catch (err) { a = refused(err, job.requestId, job.span); }
    job.ex.answer(a);
  }

  function answerRefused(job: Job, err: unknown): void {
    job.ex.answer(refused(err, job.requestId, job.span));
  }

  function publishBody(headers: HeaderGetter, raw: Body, requestId: string | undefined, span: Span | undefined, ex: PublishExchange): void {
    let events: NewEvent[];
    let body: unknown;
    let key: string | undefined;
    let explicitIds: boolean;
    let digest: string | undefined;
    try {
      // Size, then depth on the raw text, then parse (limits.ts). The scan allows DEPTH_SLACK levels over
      // max_depth: a batch wrapper adds 2, and a batch event a few levels too deep is then named by index.
      const parsed = parseJson(raw.text, cfg.max_depth + DEPTH_SLACK, cfg.max_depth);
      body = parsed.value;
      events = publisher.parseBody(body, { source: headers.get("x-event-source") ?? cfg.default_source, correlationId: headers.get("x-correlation-id") ?? requestId }, { bytes: raw.bytes, depth: parsed.depth });
      key = publisher.checkIdempotencyKey(headers.get("idempotency-key"));
      // Stored with the events: delivery, ack and dead-letter spans join this trace (tracing.ts).
      const tp = publishTraceparent(headers, span?.traceparent());
      if (tp !== undefined) for (const e of events) e.traceparent = tp;
      explicitIds = hasExplicitIds(body);
      digest = key ? bodyDigest(body) : undefined;
    } catch (err) {
      return ex.answer(refused(err, requestId, span));
    }
    publisher.publishTo(events, key, explicitIds, digest, new Job(events, body, requestId, span, span && nowMs(), ex));
  }

  /** Answers through `ex.answer`, once (it must not throw: a store settles a coalesced call's publishes in one loop). */
  return function publishRequest(headers: HeaderGetter, ex: PublishExchange): void {
    const given = headers.get("x-request-id");
    const requestId = given !== null && REQUEST_ID_RE.test(given) ? given : undefined;
    const span = tracer?.serverOf(headers, "events.publish", { "messaging.system": "tradpal", "messaging.destination.name": cfg.stream });
    let raw: Body | Promise<Body>;
    try {
      raw = ex.read();
    } catch (err) {
      return ex.answer(refused(err, requestId, span));
    }
    if (raw instanceof Promise) bodyLater(raw, headers, requestId, span, ex);
    else publishBody(headers, raw, requestId, span, ex);
  };

  /**
   * A body still on its way (the fetch lane). Apart from publishRequest: closures there would cost every
   * publish a scope object, the raw lane's (whole bodies) included.
   */
  function bodyLater(raw: Promise<Body>, headers: HeaderGetter, requestId: string | undefined, span: Span | undefined, ex: PublishExchange): void {
    raw.then((b) => publishBody(headers, b, requestId, span, ex), (err) => ex.answer(refused(err, requestId, span)));
  }
}

export type PublishRequest = ReturnType<typeof createPublishRequest>;
