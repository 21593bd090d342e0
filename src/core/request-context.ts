/**
 * The request a log line is written for, without passing it down every call: the host runs each
 * plugin request (fetch lane: listener.ts's dispatcher; wire lane: wire/front-conn.ts) inside an
 * AsyncLocalStorage holding a RequestContext, and the logger (log.ts) adds its request_id, trace_id
 * and span_id to every line written while the request is handled — in the plugin's handler, its
 * awaits, and timers or microtasks it starts.
 *
 * Nothing is computed per request: the context holds the request's headers; the ids are read from
 * them when a line is written (log lines are rare next to requests), then kept. A span opened for
 * the request (src/lib/trace) sets traceId/spanId, as does a plugin that starts a trace of its own.
 *
 * A context ends with its response (end()). A socket or timer created while a request ran keeps that
 * request's context in its callbacks (Bun captures it at creation), so after the end the logger
 * ignores it: a line written later for other work gets no ids rather than another request's.
 * Cost (Bun 1.4.5, measured): run() ~15 ns per request, getStore() ~5 ns per line, awaits inside
 * no slower than outside.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { parseTraceparent } from "../lib/trace/context";
import { newUuid } from "../lib/uuid-pool";

/** The one acceptance rule for a caller's X-Request-Id (gateway, events hot path, host and wire front use it). */
export const REQUEST_ID_RE = /^[A-Za-z0-9._:\-]{1,128}$/;


export interface HeaderView { get(name: string): string | null }

export class RequestContext {
  /** Set once known: the caller's X-Request-Id when acceptable, else one minted for the request. */
  requestId: string | undefined = undefined;
  /** Set by whoever knows better than the traceparent header (a span, a trace started here). */
  traceId: string | undefined = undefined;
  /** The span this process's work on the request runs under (ours, not the caller's). */
  spanId: string | undefined = undefined;
  /** A traceparent minted for the request (a trace started here): its trace id is sliced from it only when asked. */
  minted: string | undefined = undefined;
  ended = false;
  constructor(readonly headers: HeaderView) {}

  /** The request id (the caller's when acceptable, else a fresh UUID, the same for every asker). */
  id(): string {
    if (this.requestId !== undefined) return this.requestId;
    const given = this.headers.get("x-request-id");
    return (this.requestId = given !== null && REQUEST_ID_RE.test(given) ? given : newUuid());
  }

  /** The trace id: a span's, else the caller's traceparent's; undefined when neither. */
  trace(): string | undefined {
    if (this.traceId !== undefined) return this.traceId;
    if (this.minted !== undefined) return (this.traceId = this.minted.slice(3, 35));
    return (this.traceId = parseTraceparent(this.headers.get("traceparent"))?.traceId);
  }

  end(): void { this.ended = true; }
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Run `fn(a, b)` as the handling of a request (the host's dispatcher and wire front). */
export function runInRequest<A, B, R>(ctx: RequestContext, fn: (a: A, b: B) => R, a: A, b: B): R {
  return storage.run(ctx, fn, a, b);
}

/** The request being handled, if any (an ended one does not count). */
export function currentRequest(): RequestContext | undefined {
  const c = storage.getStore();
  return c === undefined || c.ended ? undefined : c;
}

/**
 * Run `fn` outside any request: for a long-lived resource (a pooled connection, a timer, a loop)
 * created while a request runs, so its callbacks do not carry that request's context.
 */
export function outsideRequest<R>(fn: () => R): R {
  return storage.exit(fn);
}

/** A trace starts with the current request: `traceparent` is the one minted for it (no span of ours is recorded). */
export function noteMintedTrace(traceparent: string): void {
  const c = currentRequest();
  if (c !== undefined) c.minted = traceparent;
}

/** Note the trace and span the current request's work runs under (a server span just opened). */
export function noteSpan(traceId: string, spanId: string | undefined): void {
  const c = currentRequest();
  if (c === undefined) return;
  c.traceId = traceId;
  if (spanId) c.spanId = spanId;
}

/**
 * The caller's X-Request-Id when acceptable, else the current request's id (minted once, so the
 * answer's header and its log lines agree), else a fresh UUID.
 */
export function acceptRequestId(given: string | null | undefined): string {
  if (given != null && REQUEST_ID_RE.test(given)) return given;
  const c = currentRequest();
  return c !== undefined ? c.id() : newUuid();
}
