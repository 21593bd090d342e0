/**
 * Events plugin (port 8011): the platform's event bus. Redis Streams when host.redis_url is set,
 * otherwise an embedded bun:sqlite store in <data_dir>/events/events.db. Store connections live in
 * ctx.shared so a config reload keeps them (and every group, pending entry and dead letter with them).
 */
import { tracerFor } from "../../src/lib/trace/trace";
import { join } from "node:path";
import { definePlugin } from "../../src/core/plugin";
import type { SharedPool } from "../../src/core/shared-pool";
import type { PlatformEvent } from "../../src/contracts/bus-topics";
import { EventsSchema, type EventsConfig } from "./schema";
import { buildApp } from "./app";
import { createPublishFetch } from "./hot-path";
import { createPublishWire } from "./publish-wire";
import { createSubscribeWire, eventsWire } from "./subscribe-wire";
import { createAckWire } from "./ack";
import { createPublishRequest } from "./publish-request";
import { LISTENER_BODY_LIMIT, withinDepth } from "./limits";
import { createEventMetrics } from "./metrics";
import { Publisher } from "./publisher";
import { Type } from "@sinclair/typebox";
import { Envelope, toNewEvent, type Violation } from "./validate";
import { createEmbeddedFactory } from "./store/sqlite-store";
import { createRedisFactory } from "./store/redis-factory";
import type { StoreFactory, StoreStats, TrimPolicy } from "./store/types";
import type { Subscription } from "./subscribe";
import type { ReplayJob } from "./replay";

interface SharedStore {
  ready: Promise<StoreFactory>;
  /** Mutable: a reload with new trimming settings updates it in place. */
  policy: TrimPolicy;
  close(): Promise<void>;
}

function sharedStore(shared: SharedPool, redisUrl: string, dataDir: string, cfg: EventsConfig): SharedStore {
  const policy: TrimPolicy = { maxLen: cfg.max_len, maxAgeMs: cfg.max_age };
  const key = redisUrl ? `events:store:redis${cfg.redis_cluster ? "-cluster" : ""}:${redisUrl}` : `events:store:embedded:${join(dataDir, "events", "events.db")}`;
  const entry = shared.getOrCreate<SharedStore>(key, () => {
    const ready = redisUrl
      ? createRedisFactory({ url: redisUrl, cluster: cfg.redis_cluster, trim: policy, commandTimeoutMs: cfg.redis_command_timeout })
      : Promise.resolve(createEmbeddedFactory({ file: join(dataDir, "events", "events.db"), sync: cfg.sync, trim: policy }));
    return { ready, policy, async close() { await (await ready).close(); } };
  });
  Object.assign(entry.policy, policy);
  return entry;
}

/** POST /events is served by hot-path.ts before Elysia's router, so /openapi.json learns it here. */
const PUBLISH_DOC = {
  method: "POST", path: "/events", tag: "events",
  summary: "Publish one event or a batch ({events:[...]} or [...]), atomically; Idempotency-Key header (fast path)",
  body: Type.Union([Envelope, Type.Array(Envelope), Type.Object({ events: Type.Array(Envelope) })]),
};

/** Compact JSON size of a value (Infinity when it cannot be serialised). */
function jsonBytes(v: unknown): number {
  try { return Buffer.byteLength(JSON.stringify(v) ?? ""); } catch { return Infinity; }
}

export default definePlugin({
  id: "events",
  description: "Event bus: Redis Streams or embedded store, consumer groups over SSE, replay, typed trading events",
  defaultPort: 8011,
  schema: EventsSchema,
  // SSE streams stay open: the heartbeat (≤ 100 s) keeps them under the 120 s idle timeout.
  // Bodies over 16 MB get the listener's bare 413; max_event_size / max_batch_bytes (≤ 16 MB) answer coded ones below that.
  // wire: the host's raw HTTP/1.1 front answers whole-body publishes itself (publish-wire.ts); the rest is tunnelled to Bun.serve.
  serve: { maxRequestBodySize: LISTENER_BODY_LIMIT, idleTimeout: 120, wire: true },
  async provision(cfg, ctx) {
    if (cfg.subscribe.heartbeat > 100_000) throw new Error("plugins.events.subscribe.heartbeat must be at most 100s (the port's idle timeout is 120s)");
    for (const k of ["max_event_size", "max_batch_bytes"] as const) {
      if (cfg[k] < 1 || cfg[k] > LISTENER_BODY_LIMIT) throw new Error(`plugins.events.${k} must be between 1 byte and 16mb (the port's body limit)`);
    }
    const shared = sharedStore(ctx.shared, ctx.host.redis_url, ctx.host.data_dir, cfg);
    const factory = await shared.ready;
    const store = factory.open(cfg.stream);
    const metrics = createEventMetrics(ctx.metrics);
    const publisher = new Publisher(store, metrics, cfg);
    const subscriptions = new Set<Subscription>();
    const replays = new Map<string, ReplayJob>();
    const tracer = tracerFor(ctx.host, ctx.id);
    const publishRequest = createPublishRequest(publisher, cfg, ctx.log, metrics, tracer);
    const deps = { cfg, store, factory, publisher, metrics, log: ctx.log, subscriptions, replays, signal: ctx.signal, tracer };
    const app = buildApp(deps);

    // Stream gauges: one stats() per scrape, shared by the gauges below.
    let statsAt = 0;
    let statsP: Promise<StoreStats | undefined> = Promise.resolve(undefined);
    const stats = () => {
      if (Date.now() - statsAt > 500) { statsAt = Date.now(); statsP = store.stats().catch(() => undefined); }
      return statsP;
    };
    ctx.metrics.gauge({ name: "consumer_lag", help: "Entries not yet delivered to each consumer group.", labelNames: ["group"], async collect(g) {
      const s = await stats(); g.reset();
      for (const grp of s?.groups ?? []) if (grp.lag !== null) g.set({ group: grp.name }, grp.lag);
    } });
    ctx.metrics.gauge({ name: "consumer_pending", help: "Delivered but unacknowledged entries per consumer group.", labelNames: ["group"], async collect(g) {
      const s = await stats(); g.reset();
      for (const grp of s?.groups ?? []) g.set({ group: grp.name }, grp.pending);
    } });
    ctx.metrics.gauge({ name: "stream_length", help: "Entries in the main stream.", async collect(g) { const s = await stats(); if (s) g.set(s.length); } });
    ctx.metrics.gauge({ name: "dead_letter_length", help: "Entries in the dead-letter stream.", async collect(g) { const s = await stats(); if (s) g.set(s.deadLetters); } });
    ctx.metrics.gauge({ name: "stream_trimmed_entries", help: "Entries removed by trimming since the stream was created.", async collect(g) { const s = await stats(); if (s) g.set(s.trimmed); } });

    // Events other plugins publish through the in-process bus (breaker transitions, falco alerts...).
    let chain = Promise.resolve();
    /** Stored in order; resolves once stored or refused as invalid, rejects when the store failed ("events.ingest"). */
    const ingest = (pe: PlatformEvent): Promise<void> => {
      // The same limits as HTTP publishers (a payload can carry outside data, e.g. a falco alert's output).
      const over = !withinDepth(pe.payload, cfg.max_depth, 2) ? "too_deep" : jsonBytes(pe.payload) > cfg.max_event_size ? "too_large" : undefined;
      if (over) { metrics.rejected(over); ctx.log.warn("platform.event rejected", { type: pe.type, source: pe.source, reason: over }); return Promise.resolve(); }
      const violations: Violation[] = [];
      const e = toNewEvent({ type: pe.type, source: pe.source, payload: pe.payload, ...(pe.correlationId ? { correlationId: pe.correlationId } : {}), ...(pe.id ? { id: pe.id } : {}) }, { source: "platform" }, "", violations);
      if (!e) { metrics.rejected("validation"); ctx.log.warn("platform.event rejected", { type: pe.type, source: pe.source, violations }); return Promise.resolve(); }
      // With an id, a repeat within dedup_window is stored once (a hand-over retried after a lost reply).
      const stored = chain.then(() => publisher.publish([e], undefined, pe.id !== undefined)).then(() => undefined);
      chain = stored.catch(() => undefined);
      return stored;
    };
    const onPlatformEvent = (pe: PlatformEvent) => { ingest(pe).catch((err) => ctx.log.warn("platform.event not stored", { type: pe.type, err })); };

    let unsubscribe: (() => void) | undefined;
    let trimTimer: ReturnType<typeof setInterval> | undefined;
    let stopped = false;
    return {
      app,
      fetch: createPublishFetch(app, publishRequest, cfg),
      wire: eventsWire(createPublishWire(publishRequest, cfg), createSubscribeWire(deps), createAckWire(deps)),
      docs: { routes: () => [PUBLISH_DOC] },
      async start() {
        const off = ctx.bus.on("platform.event", onPlatformEvent);
        const withdraw = ctx.bus.provide("events.ingest", ingest);
        unsubscribe = () => { off(); withdraw(); };
        {
          trimTimer = setInterval(() => {
            store.trim().then((n) => { if (n > 0) metrics.trimmed.inc(n); }, () => undefined);
          }, Math.max(100, cfg.trim_interval));
        }
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        unsubscribe?.();
        if (trimTimer) clearInterval(trimTimer);
        for (const s of [...subscriptions]) s.close(); // clients reconnect to the new instance and resume their pending entries
        await chain;
      },
      async health() {
        const up = await factory.ping();
        return up
          ? { ok: true, checks: { store: factory.kind, stream: cfg.stream, subscribers: subscriptions.size } }
          : { ok: false, reason: `${factory.kind} store unreachable`, checks: { store: factory.kind, redis: "down" } };
      },
    };
  },
});
