/**
 * EventClient: typed access to the events plugin (seed: `events.publish_trading_signal({...})`).
 *
 *   const events = new EventClient({ baseUrl: "http://localhost:8011", source: "trading_service" });
 *   await events.publishTradingSignal({ symbol: "BTC/USDT", action: "BUY", confidence: 0.85 });
 *   await events.publish(EventType.ORDER_FILLED, { order_id: "o1", symbol: "BTC/USDT", side: "BUY", quantity: 1, price: 100 });
 *
 * Every publish carries an Idempotency-Key, so the built-in retries (503, no answer) never store an
 * event twice; a resolved publish means the service stored it durably (201). Publishes made in one turn
 * of the event loop go out as one atomic batch under one key, each answered on its own
 * (publish-coalescer.ts; `coalesce: false` for one request per publish). A retry (or a repeat with
 * the same `idempotencyKey`) that the service had already stored resolves with the FIRST request's
 * ids and stream ids and `duplicate: true`. Reusing a key for a different body rejects with a
 * ServiceError { status: 409, code: "EV_ERR_IDEMPOTENCY_CONFLICT", where: "header.idempotency-key",
 * details: { ids, streamIds } of the first request }, never retried.
 */
import { fullJitterBackoff } from "../lib/resilience";
import { EventType, type EventInput, type EventPayload, type EventTypeName, type PlatformEventEnvelope } from "../contracts/event-catalog";
import { joinUrl, request, requestJson, ServiceError } from "./http";
import { clientTls, serviceUrl, type ClientTls, type TlsSource } from "./env";
import { PublishCoalescer, type BatchResult, type PublishResult } from "./publish-coalescer";

export { EventType, ServiceError };
export type { EventInput, EventPayload, EventTypeName, PlatformEventEnvelope, BatchResult, PublishResult };

export interface EventClientOptions {
  /** Default: EVENT_SERVICE_URL, else http://<BIND_ADDRESS or 127.0.0.1>:<EVENT_SERVICE_PORT or 8011> (src/clients/env.ts). */
  baseUrl?: string;
  /** `source` of published events. */
  source?: string;
  timeoutMs?: number;
  /** Attempts for a publish that meets 503/429/no answer (default 3). */
  retries?: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Client TLS; default from the environment (TRADPAL_TLS_*, or ENABLE_MTLS=true: the host's files); false: plain HTTP. */
  tls?: ClientTls | false;
  /**
   * Send the publishes made in one turn of the event loop as one atomic batch, each still answered on its
   * own (publish-coalescer.ts). Default true; false: one request per publish.
   */
  coalesce?: boolean;
}

export interface PublishOptions {
  id?: string;
  correlationId?: string;
  source?: string;
  time?: string;
  /** Default: a fresh UUID per call (so retries are safe). */
  idempotencyKey?: string;
  /** W3C trace context to publish under (stored with the event: its consumers' spans join this trace). */
  traceparent?: string;
}

export interface EventQuery {
  types?: EventTypeName[];
  source?: string;
  /** Date, ISO string or epoch ms. */
  from?: Date | string | number;
  to?: Date | string | number;
  fromId?: string;
  toId?: string;
  /** Cursor from a previous page's `next`. */
  after?: string;
  limit?: number;
}

export interface EventPage { events: PlatformEventEnvelope[]; count: number; next: string | null }

export interface ReplayRequest extends Omit<EventQuery, "after" | "limit"> {
  /** Events per second (capped by the service's replay.max_rate). */
  rate?: number;
  limit?: number;
}

export interface ReplayJob { id: string; status: string; copied: number; target: { type: string; name: string; stream: string } }

export interface GroupStats {
  name: string; consumers: number; pending: number; lastDeliveredId: string; lag: number | null;
  /** The group's type filter, fixed by its first subscription: "*" = every type, "a,b" = sorted types, null = not fixed yet. */
  filter?: string | null;
}
export interface EventStats {
  stream: string; backend: "redis" | "embedded"; length: number; firstId: string | null; lastId: string | null;
  perType: Record<string, number>; groups: GroupStats[]; deadLetters: number; trimmed: number; subscribers: number;
  rates: { publishPerSecond: number; deliverPerSecond: number };
}

function timeParam(v: Date | string | number): string {
  return v instanceof Date ? String(v.getTime()) : String(v);
}

export function defaultEventServiceUrl(secure = false): string {
  return serviceUrl("EVENT_SERVICE_URL", "EVENT_SERVICE_PORT", 8011, process.env, secure);
}

export class EventClient {
  readonly baseUrl: string;
  private readonly o: Required<Omit<EventClientOptions, "baseUrl" | "source" | "tls" | "coalesce">> & { source?: string };
  private readonly tls?: TlsSource;
  /** POST /events's URL, joined once (every publish uses it). */
  private readonly publishUrl: string;
  /** Concurrent publishes without a key or traceparent of their own, sent as one batch (undefined: coalesce false). */
  private readonly coalescer: PublishCoalescer | undefined;

  constructor(opts: EventClientOptions = {}) {
    this.tls = clientTls(opts.tls);
    this.baseUrl = opts.baseUrl ?? defaultEventServiceUrl(this.tls !== undefined);
    this.publishUrl = this.url("/events");
    this.o = { source: opts.source, timeoutMs: opts.timeoutMs ?? 10_000, retries: opts.retries ?? 3, retryBaseMs: opts.retryBaseMs ?? 100, retryCapMs: opts.retryCapMs ?? 2000 };
    this.coalescer = opts.coalesce === false ? undefined : new PublishCoalescer((body) => this.send(body, this.headers({})), (events) => this.sendBatch(events, {}));
  }

  url(path: string): string {
    return joinUrl(this.baseUrl, path);
  }

  /** The client TLS for the next request (current after a certificate renewal), or undefined. */
  tlsNow(): ClientTls | undefined {
    return this.tls?.();
  }

  /** The first attempt without an async wrapper (the common case on the publish path); retries after a retryable failure. */
  private withRetry<T>(fn: () => Promise<T>): Promise<T> {
    return fn().catch((err) => this.retry(fn, err));
  }

  private async retry<T>(fn: () => Promise<T>, first: unknown): Promise<T> {
    let err = first;
    for (let attempt = 0; ; attempt++) {
      if (!(err instanceof ServiceError) || !err.retryable || attempt + 1 >= this.o.retries) throw err;
      await Bun.sleep(fullJitterBackoff(attempt, this.o.retryBaseMs, this.o.retryCapMs));
      try {
        return await fn();
      } catch (e) {
        err = e;
      }
    }
  }

  private headers(opts: PublishOptions): Record<string, string> {
    const h: Record<string, string> = { "idempotency-key": opts.idempotencyKey ?? crypto.randomUUID() };
    if (opts.traceparent) h.traceparent = opts.traceparent;
    return h;
  }

  /** Publish one event of a catalog type (payload typed by the type) or a `custom.*` type. */
  publish<T extends EventTypeName>(type: T, payload: EventPayload<T>, opts: PublishOptions = {}): Promise<PublishResult> {
    // Fields set one by one (the order the server sees is unchanged): no empty object and spread copy per option.
    const body: EventInput<T> = { type, payload };
    if (opts.id) body.id = opts.id;
    if (opts.correlationId) body.correlationId = opts.correlationId;
    if (opts.time) body.time = opts.time;
    const source = opts.source ?? this.o.source;
    if (source) body.source = source;
    // A key or a traceparent of the caller's names one request: that publish goes alone.
    if (this.coalescer !== undefined && opts.idempotencyKey === undefined && !opts.traceparent) return this.coalescer.publish(body);
    return this.send(body, this.headers(opts));
  }

  private send(body: EventInput, headers: Record<string, string>): Promise<PublishResult> {
    return this.withRetry(() => requestJson<PublishResult>(this.publishUrl, { tls: this.tls?.(), method: "POST", body, headers, timeoutMs: this.o.timeoutMs }));
  }

  /** Publish many events atomically (all stored or none). */
  publishBatch(events: EventInput[], opts: Pick<PublishOptions, "idempotencyKey" | "traceparent"> = {}): Promise<BatchResult> {
    const source = this.o.source;
    return this.sendBatch(source ? events.map((e) => ({ source, ...e })) : events, opts);
  }

  /** One atomic POST of `events` as given; its retries carry the same Idempotency-Key. */
  private sendBatch(events: EventInput[], opts: Pick<PublishOptions, "idempotencyKey" | "traceparent">): Promise<BatchResult> {
    const body = { events };
    const headers = this.headers(opts);
    return this.withRetry(() => requestJson<BatchResult>(this.publishUrl, { tls: this.tls?.(), method: "POST", body, headers, timeoutMs: this.o.timeoutMs }));
  }

  publishTradingSignal(signal: EventPayload<typeof EventType.TRADING_SIGNAL>, opts: PublishOptions = {}): Promise<PublishResult> {
    return this.publish(EventType.TRADING_SIGNAL, signal, opts);
  }

  publishMarketData(data: EventPayload<typeof EventType.MARKET_DATA_UPDATE>, opts: PublishOptions = {}): Promise<PublishResult> {
    return this.publish(EventType.MARKET_DATA_UPDATE, data, opts);
  }

  private filterParams(q: Omit<EventQuery, "after" | "limit">): Record<string, string> {
    const p: Record<string, string> = {};
    if (q.types?.length) p.types = q.types.join(",");
    if (q.source) p.source = q.source;
    if (q.from !== undefined) p.from = timeParam(q.from);
    if (q.to !== undefined) p.to = timeParam(q.to);
    if (q.fromId) p.from_id = q.fromId;
    if (q.toId) p.to_id = q.toId;
    return p;
  }

  /** One page of stored events, oldest first; pass `next` as `after` for the following page. */
  query(q: EventQuery = {}): Promise<EventPage> {
    const p = this.filterParams(q);
    if (q.after) p.after = q.after;
    if (q.limit) p.limit = String(q.limit);
    return requestJson<EventPage>(this.url(`/events?${new URLSearchParams(p)}`), { tls: this.tls?.(), timeoutMs: this.o.timeoutMs });
  }

  /** Events of the range streamed back in order (NDJSON), paced by `rate`. */
  async *replay(r: ReplayRequest = {}, signal?: AbortSignal): AsyncGenerator<PlatformEventEnvelope> {
    const body = { ...this.filterParams(r), ...(r.rate ? { rate: r.rate } : {}), ...(r.limit ? { limit: r.limit } : {}), target: { type: "response" } };
    const res = await request(this.url("/events/replay"), { tls: this.tls?.(), method: "POST", body, timeoutMs: 24 * 3600_000, signal });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (value) buf += dec.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) yield JSON.parse(line);
      }
      if (done) return;
    }
  }

  /** Replay into a stream or a new consumer group (runs in the service; poll replayStatus). */
  replayTo(target: { type: "stream" | "group"; name: string }, r: ReplayRequest = {}): Promise<ReplayJob> {
    const body = { ...this.filterParams(r), ...(r.rate ? { rate: r.rate } : {}), ...(r.limit ? { limit: r.limit } : {}), target };
    return requestJson<ReplayJob>(this.url("/events/replay"), { tls: this.tls?.(), method: "POST", body, timeoutMs: this.o.timeoutMs });
  }

  replayStatus(id: string): Promise<ReplayJob> {
    return requestJson<ReplayJob>(this.url(`/events/replays/${encodeURIComponent(id)}`), { tls: this.tls?.(), timeoutMs: this.o.timeoutMs });
  }

  stats(): Promise<EventStats> {
    return requestJson<EventStats>(this.url("/events/stats"), { tls: this.tls?.(), timeoutMs: this.o.timeoutMs });
  }

  /** Acknowledge deliveries of a consumer group (EventSubscriberClient does this for you; `headers`: its traceparent). */
  ack(group: string, streamIds: string[], replay?: string, headers?: Record<string, string>): Promise<{ acked: number }> {
    return requestJson<{ acked: number }>(this.url("/events/ack"), { tls: this.tls?.(), method: "POST", body: { group, ids: streamIds, ...(replay ? { replay } : {}) }, headers, timeoutMs: this.o.timeoutMs });
  }
}
