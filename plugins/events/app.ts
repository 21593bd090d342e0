/**
 * The HTTP API (GET /health and GET /metrics are the host's):
 *   POST /events                 handled before the router by hot-path.ts (one event or a batch, Idempotency-Key)
 *   POST /events/market-data     body = market.data_update payload
 *   POST /events/trading-signal  body = trading.signal payload
 *   GET  /events                 filter (types, source, from/to, from_id/to_id), cursor paging (after)
 *   GET  /events/stats           stream, groups (lag, pending), dead letters, rates
 *   GET  /events/types           the catalog
 *   GET  /events/subscribe       SSE per group and consumer; POST /events/ack to acknowledge
 *   GET  /events/dead-letters    the dead-letter stream
 *   POST /events/replay          NDJSON response, a replay stream, or a new consumer group
 *   GET  /events/replays/:id     progress of a stream/group replay
 * Request bodies: size and depth limits first (limits.ts), here and on the hot path.
 */
import { Elysia } from "elysia";
import { httpConventions } from "../../src/core/http";
import { EventSchemas, EventType } from "../../src/contracts/event-catalog";
import type { Logger } from "../../src/core/log";
import { EventErrors } from "./errors";
import { boundedJsonParser } from "./limits";
import type { Publisher } from "./publisher";
import { shortcutEvent, type Violation } from "./validate";
import { parseFilter, parseFilterId, parseLimit, parseName, type Params } from "./query";
import { ackRequest } from "./ack";
import { SSE_HEADERS, sseStream, type Subscription } from "./subscribe";
import { openSubscription, unavailable } from "./subscribe-open";
import { ndjsonReplay, replayStreamName, startCopyReplay, type ReplayJob } from "./replay";
import { StoreUnavailableError, type EventStore, type StoreFactory } from "./store/types";
import type { EventMetrics } from "./metrics";
import type { EventsConfig } from "./schema";
import type { Rate } from "../../src/config/units";
import { bodyDigest } from "./idempotency";
import { publishTraceparent } from "./tracing";
import type { Tracer } from "../../src/lib/trace/trace";

export interface AppDeps {
  cfg: EventsConfig;
  store: EventStore;
  factory: StoreFactory;
  publisher: Publisher;
  metrics: EventMetrics;
  log: Logger;
  subscriptions: Set<Subscription>;
  replays: Map<string, ReplayJob>;
  signal: AbortSignal;
  /** host.tracing on: delivery, dead-letter and ack spans (tracing.ts). */
  tracer?: Tracer;
}

const CREATED = { status: 201, headers: { "content-type": "application/json" } };


function invalid(violations: Violation[]) {
  return EventErrors.EV_ERR_VALIDATION(`${violations[0].where} ${violations[0].message}`, violations[0].where, violations);
}

function parseRate(value: unknown, cfg: EventsConfig): Rate {
  if (value === undefined || value === null) return cfg.replay.default_rate;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw EventErrors.EV_ERR_BAD_QUERY("rate must be a positive number of events per second", "/rate");
  const maxPerS = (cfg.replay.max_rate.limit * 1000) / cfg.replay.max_rate.periodMs;
  return { limit: Math.min(n, maxPerS), periodMs: 1000 };
}

export function buildApp(d: AppDeps) {
  const { cfg, store, publisher, metrics, log } = d;
  const bounded = boundedJsonParser(cfg, metrics);
  const defaultsOf = (req: Request) => ({ source: req.headers.get("x-event-source") ?? cfg.default_source, correlationId: req.headers.get("x-correlation-id") ?? undefined });

  const publishShortcut = async (type: (typeof EventType)[keyof typeof EventType], body: unknown, request: Request) => {
    const violations: Violation[] = [];
    const e = shortcutEvent(type, body, defaultsOf(request), violations);
    if (!e) { metrics.rejected("validation"); throw invalid(violations); }
    const tp = publishTraceparent(request.headers, undefined);
    if (tp !== undefined) e.traceparent = tp;
    const key = publisher.checkIdempotencyKey(request.headers.get("idempotency-key"));
    // The body as written is the payload: digest it as the event {type, payload} (as POST /events would).
    const r = await publisher.publish([e], key, false, key ? bodyDigest({ type, payload: body }) : undefined);
    return new Response(JSON.stringify({ id: r.eventIds![0], streamId: r.streamIds[0], type, duplicate: r.duplicate }), CREATED);
  };

  return new Elysia()
    .use(httpConventions({ errors: EventErrors, log }))
    // Every body of these routes goes through the size and depth limits (limits.ts), whatever its content type.
    .onParse(bounded.parse)
    .onTransform(bounded.refuse)
    .post("/events/market-data", ({ body, request }) => publishShortcut(EventType.MARKET_DATA_UPDATE, body, request))
    .post("/events/trading-signal", ({ body, request }) => publishShortcut(EventType.TRADING_SIGNAL, body, request))
    .get("/events", async ({ query }) => {
      const q = query as Params;
      const filter = parseFilter(q, "query.");
      const limit = parseLimit(q.limit, cfg.page_limit, 100, "query.limit");
      const after = q.after ?? q.cursor;
      const page = await store.read({ ...filter, afterId: after ? parseFilterId(after) : undefined, limit }).catch(unavailable);
      return { events: page.events, count: page.events.length, next: page.next ?? null };
    })
    .get("/events/types", () => ({ types: Object.keys(EventSchemas), constants: EventType, custom: "custom.<name> with any object payload", schemas: EventSchemas }))
    .get("/events/stats", async () => {
      const s = await store.stats().catch(unavailable);
      return {
        ...s,
        backend: store.kind,
        subscribers: d.subscriptions.size,
        rates: { publishPerSecond: round(metrics.publishRate.perSecond()), deliverPerSecond: round(metrics.deliverRate.perSecond()) },
      };
    })
    .get("/events/dead-letters", async ({ query }) => {
      const limit = parseLimit((query as Params).limit, cfg.page_limit, 100, "query.limit");
      return { deadLetters: await store.readDeadLetters(limit).catch(unavailable) };
    })
    .get("/events/subscribe", async ({ request }) => {
      // On a plain-HTTP wire port most subscriptions take the raw lane instead (subscribe-wire.ts).
      const sub = await openSubscription(d, new URL(request.url).searchParams);
      request.signal.addEventListener("abort", () => sub.close(), { once: true });
      return new Response(sseStream(sub), { headers: SSE_HEADERS });
    })
    // On a plain-HTTP wire port an ack whose body came whole takes the raw lane instead (ack.ts).
    .post("/events/ack", ({ body, request }) => ackRequest(d, body, request.headers))
    .post("/events/replay", async ({ body, request }) => {
      const b = (body ?? {}) as Params;
      const filter = parseFilter(b, "/");
      const rate = parseRate(b.rate, cfg);
      const maxEvents = parseLimit(b.limit, cfg.replay.max_events, cfg.replay.max_events, "/limit");
      const t = (b.target ?? { type: "response" }) as Params;
      const sel = { query: filter, rate, maxEvents };
      if (t.type === "response") {
        return new Response(ndjsonReplay(store, sel, log), { headers: { "content-type": "application/x-ndjson", "x-replay-rate": String((rate.limit * 1000) / rate.periodMs) } });
      }
      if (t.type !== "stream" && t.type !== "group") throw EventErrors.EV_ERR_BAD_QUERY("target.type must be response, stream or group", "/target/type");
      const name = parseName(t.name, "/target/name")!;
      const job = await startCopyReplay(d.factory, store, sel, { type: t.type, name, stream: replayStreamName(cfg.stream, name) }, d.signal, log).catch(unavailable);
      d.replays.set(job.id, job);
      void request;
      return new Response(JSON.stringify({ ...job, subscribe: t.type === "group" ? `/events/subscribe?replay=${name}&group=${name}&consumer=<name>` : undefined }), { status: 202, headers: { "content-type": "application/json", location: `/events/replays/${job.id}` } });
    })
    .get("/events/replays/:id", ({ params }) => {
      const job = d.replays.get(params.id);
      if (!job) throw EventErrors.EV_ERR_REPLAY_NOT_FOUND(undefined, "path.id");
      return job;
    });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
