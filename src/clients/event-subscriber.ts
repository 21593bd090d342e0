/**
 * EventSubscriberClient: at-least-once consumption through the events plugin's SSE endpoint.
 *
 *   const subscriber = new EventSubscriberClient(events, { group: "risk", consumer: "risk-1" });
 *   subscriber.registerHandler(EventType.MARKET_DATA_UPDATE, async (e) => { e.payload.price ... });
 *   await subscriber.startSubscribing();
 *
 * An event is acknowledged only after its handler resolves; a handler that throws leaves it pending, so
 * the service redelivers it after the visibility timeout (and dead-letters it after max_deliveries).
 * When the service is away the client reconnects with full-jitter backoff under the same consumer name;
 * the service then sends this consumer's unacknowledged entries first, so nothing is lost.
 *
 * The registered handler types are the subscription's filter, and a group's filter is fixed by its first
 * member: a member of a group registered with other types is refused by the service (409
 * EV_ERR_GROUP_FILTER_MISMATCH); startSubscribing() rejects with that ServiceError and the client does
 * not retry (a member that cannot handle all of the group's types must not take its events). An event of
 * a type without a handler (which the service should never send) is not acknowledged: it is counted in
 * `unhandled`, reported to onError, and left pending for redelivery and, in the end, the dead letters.
 *
 * Tracing (`tracer`, src/lib/trace): an event delivered with a sampled traceparent (the publisher's trace,
 * stored with the event) gets an events.process CONSUMER span around its handlers and an events.ack CLIENT
 * span for the ack that carried it, both in the publisher's trace. The handler sees `event.traceparent`
 * naming its process span, to pass on to the calls it makes. Without a tracer nothing of this runs.
 */
import { fullJitterBackoff } from "../lib/resilience";
import type { EventTypeName, PlatformEventEnvelope } from "../contracts/event-catalog";
import { request, ServiceError } from "./http";
import type { EventClient } from "./event-client";
import { formatTraceparent, nowMs, parseTraceparent, randomHex, SPAN_KIND, type TraceContext, type Tracer } from "../lib/trace/trace";
import { dataOf, sseBlocks } from "./sse-blocks";
import { openSseSocket } from "./sse-socket";

/** An event arrived for which this subscriber has no handler: it was left unacknowledged. */
export class UnhandledEventError extends Error {
  readonly code = "EV_CLIENT_NO_HANDLER";
  constructor(readonly type: string, readonly streamId: string) {
    super(`no handler for event type ${type} (${streamId}): left unacknowledged`);
    this.name = "UnhandledEventError";
  }
}

/** `traceparent`: the trace the event was published under (with a tracer: this subscriber's process span). */
export type Delivered<T extends EventTypeName> = PlatformEventEnvelope<T> & { deliveryCount: number; traceparent?: string };
export type EventHandler<T extends EventTypeName> = (event: Delivered<T>) => void | Promise<void>;

export interface SubscriberOptions {
  group: string;
  /** Stable per process instance so a restart resumes its pending entries (default: random). */
  consumer?: string;
  /** "new" (default): only events published after the group was created; "all": from the start of the stream. */
  start?: "new" | "all";
  /** Subscribe to a replay target instead of the live stream. */
  replay?: string;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Acks are sent in batches at most this often. */
  ackIntervalMs?: number;
  onError?: (err: unknown) => void;
  /** Continue each traced event's trace: events.process and events.ack spans (see above). */
  tracer?: Tracer;
}

/** A queued ack of a traced event: the context of its process span (the ack span's parent). */
interface TracedAck { ctx: TraceContext; streamId: string; type: string }

export class EventSubscriberClient {
  private readonly handlers = new Map<string, EventHandler<any>[]>();
  private readonly o: Required<Omit<SubscriberOptions, "replay" | "onError" | "tracer">> & Pick<SubscriberOptions, "replay" | "onError" | "tracer">;
  private running = false;
  private abort?: AbortController;
  private loop?: Promise<void>;
  private acks: string[] = [];
  private tracedAcks: TracedAck[] = [];
  private ackTimer?: ReturnType<typeof setTimeout>;
  private ackChain: Promise<void> = Promise.resolve();
  /** Events handled (acked or queued for ack) since start. */
  handled = 0;
  failed = 0;
  /** Events received without a handler for their type (never acked). */
  unhandled = 0;
  /** The refusal that stopped this subscriber (a 4xx such as EV_ERR_GROUP_FILTER_MISMATCH), if any. */
  refused?: ServiceError;
  connected = false;

  constructor(private readonly client: EventClient, opts: SubscriberOptions) {
    this.o = {
      group: opts.group, consumer: opts.consumer ?? `consumer-${crypto.randomUUID().slice(0, 8)}`, start: opts.start ?? "new", replay: opts.replay,
      backoffBaseMs: opts.backoffBaseMs ?? 100, backoffCapMs: opts.backoffCapMs ?? 5000, ackIntervalMs: opts.ackIntervalMs ?? 5, onError: opts.onError, tracer: opts.tracer,
    };
  }

  get consumer(): string { return this.o.consumer; }

  /** Handle events of `type` (payload typed by the catalog). Register before startSubscribing(). */
  registerHandler<T extends EventTypeName>(type: T, fn: EventHandler<T>): this {
    const list = this.handlers.get(type) ?? [];
    list.push(fn);
    this.handlers.set(type, list);
    return this;
  }

  /** Starts the background loop; resolves once the first connection is open (or after the first failed try). */
  async startSubscribing(): Promise<void> {
    if (this.running) return;
    if (this.handlers.size === 0) throw new Error("register at least one handler before startSubscribing()");
    this.running = true;
    this.abort = new AbortController();
    let firstAttempt!: () => void;
    const first = new Promise<void>((r) => (firstAttempt = r));
    this.loop = this.run(firstAttempt);
    await first;
    if (this.refused) throw this.refused;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    await this.loop?.catch(() => undefined);
    await this.flushAcks();
  }

  private subscribeUrl(): string {
    const p = new URLSearchParams({ group: this.o.group, consumer: this.o.consumer, types: [...this.handlers.keys()].join(","), start: this.o.start === "all" ? "all" : "new" });
    if (this.o.replay) p.set("replay", this.o.replay);
    return this.client.url(`/events/subscribe?${p}`);
  }

  private async run(firstAttempt: () => void) {
    let attempt = 0;
    while (this.running) {
      try {
        const body = await this.open(this.subscribeUrl());
        this.connected = true;
        attempt = 0;
        firstAttempt();
        await this.consume(body);
      } catch (err) {
        if (!this.running) break;
        this.o.onError?.(err);
        // A refusal (4xx: wrong group filter, bad name) does not get better by retrying.
        if (err instanceof ServiceError && err.status >= 400 && !err.retryable) { this.refused = err; this.running = false; }
      } finally {
        this.connected = false;
      }
      firstAttempt();
      if (!this.running) break;
      await this.flushAcks().catch(() => undefined);
      await Bun.sleep(fullJitterBackoff(attempt++, this.o.backoffBaseMs, this.o.backoffCapMs));
    }
  }

  /** Plain HTTP: a socket of its own (sse-socket.ts: no hand-off from fetch's thread per delivery); https: fetch. */
  private async open(url: string): Promise<ReadableStream<Uint8Array>> {
    if (url.startsWith("http://")) return openSseSocket(url, this.abort!.signal);
    const res = await request(url, { tls: this.client.tlsNow(), signal: this.abort!.signal, headers: { accept: "text/event-stream" }, timeoutMs: 24 * 3600_000 });
    if (!res.body) throw new Error(`subscribe answered ${res.status} without a body`);
    return res.body;
  }

  private async consume(body: ReadableStream<Uint8Array>) {
    for await (const block of sseBlocks(body)) {
      const data = dataOf(block);
      if (data === "") continue;
      const handling = this.dispatch(JSON.parse(data));
      if (handling !== undefined) await handling;
    }
  }

  /** Not async: a promise only when a handler returned one (or tracing is on), so a synchronous handler costs none. */
  private dispatch(event: Delivered<EventTypeName>): Promise<void> | undefined {
    const list = this.handlers.get(event.type);
    if (list !== undefined && this.o.tracer === undefined) {
      for (let i = 0; i < list.length; i++) {
        let r: void | Promise<void>;
        try { r = list[i](event); } catch (err) { this.handlerFailed(err); return undefined; }
        if (r != null && typeof (r as PromiseLike<void>).then === "function") return this.dispatchFrom(event, list, i, r as PromiseLike<void>);
      }
      this.handledOk(event);
      return undefined;
    }
    return this.dispatchTraced(event);
  }

  /** The rest of dispatch() once a handler returned a promise. */
  private async dispatchFrom(event: Delivered<EventTypeName>, list: EventHandler<any>[], at: number, pending: PromiseLike<void>): Promise<void> {
    try {
      await pending;
      for (let i = at + 1; i < list.length; i++) await list[i](event);
    } catch (err) {
      this.handlerFailed(err);
      return;
    }
    this.handledOk(event);
  }

  private handlerFailed(err: unknown) {
    this.failed++;
    this.o.onError?.(err);
    // not acked: redelivered after the visibility timeout
  }

  /** Queues the ack of a handled event. */
  private handledOk(event: Delivered<EventTypeName>) {
    this.handled++;
    this.acks.push(event.streamId);
    if (this.acks.length >= 100) void this.flushAcks();
    else this.ackTimer ??= setTimeout(this.flushSoon, this.o.ackIntervalMs);
  }

  private readonly flushSoon = () => void this.flushAcks();

  /** With a tracer, or without a handler for the type. */
  private async dispatchTraced(event: Delivered<EventTypeName>) {
    const list = this.handlers.get(event.type);
    if (!list) {
      // Never ack what nobody handled: it stays pending (redelivered, then dead-lettered), visibly.
      this.unhandled++;
      this.o.onError?.(new UnhandledEventError(event.type, event.streamId));
      return;
    }
    const tracer = this.o.tracer;
    const parent = tracer && parseTraceparent(event.traceparent);
    const traced = parent?.sampled ? parent : undefined;
    let processCtx: TraceContext | undefined;
    let t0 = 0;
    if (traced) {
      processCtx = { traceId: traced.traceId, spanId: randomHex(16), sampled: true };
      event.traceparent = formatTraceparent(traced.traceId, processCtx.spanId, true); // the handler's calls go on under it
      t0 = nowMs();
    }
    const attrs = processCtx && { "messaging.system": "tradpal", "messaging.operation.type": "process", "messaging.consumer.group.name": this.o.group, "tradpal.consumer": this.o.consumer, "messaging.message.id": event.id, "tradpal.stream_id": event.streamId, "tradpal.delivery_count": event.deliveryCount, "event.type": event.type };
    try {
      for (const fn of list) await fn(event);
    } catch (err) {
      this.failed++;
      if (processCtx) tracer!.span(traced!, "events.process", SPAN_KIND.consumer, t0, nowMs(), attrs!, err instanceof Error ? err.message : String(err), processCtx.spanId);
      this.o.onError?.(err);
      return; // not acked: redelivered after the visibility timeout
    }
    if (processCtx) {
      tracer!.span(traced!, "events.process", SPAN_KIND.consumer, t0, nowMs(), attrs!, undefined, processCtx.spanId);
      this.tracedAcks.push({ ctx: processCtx, streamId: event.streamId, type: event.type });
    }
    this.handledOk(event);
  }

  /** Send queued acks (serialised; a failed ack is retried with the next batch, the service redelivers meanwhile). */
  private flushAcks(): Promise<void> {
    if (this.ackTimer) { clearTimeout(this.ackTimer); this.ackTimer = undefined; }
    if (this.acks.length === 0) return this.ackChain;
    const ids = this.acks;
    this.acks = [];
    const traced = this.tracedAcks;
    if (traced.length) this.tracedAcks = [];
    this.ackChain = this.ackChain.then(async () => {
      // One events.ack span per traced event, each in its own trace; the request carries the first one's.
      const spanIds = traced.map(() => randomHex(16));
      const t0 = traced.length ? nowMs() : 0;
      const headers = traced.length ? { traceparent: formatTraceparent(traced[0].ctx.traceId, spanIds[0], true) } : undefined;
      let error: string | undefined;
      try {
        await this.client.ack(this.o.group, ids, this.o.replay, headers);
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
        this.acks.unshift(...ids);
        this.tracedAcks.unshift(...traced);
        this.o.onError?.(err);
      }
      if (traced.length) this.ackSpans(traced, spanIds, t0, error);
    });
    return this.ackChain;
  }

  private ackSpans(traced: TracedAck[], spanIds: string[], t0: number, error: string | undefined) {
    const end = nowMs();
    for (let i = 0; i < traced.length; i++) {
      const a = traced[i];
      this.o.tracer!.span(a.ctx, "events.ack", SPAN_KIND.client, t0, end, {
        "messaging.system": "tradpal", "messaging.operation.type": "settle", "messaging.consumer.group.name": this.o.group,
        "tradpal.stream_id": a.streamId, "event.type": a.type, "messaging.batch.message_count": traced.length,
      }, error, spanIds[i]);
    }
  }
}
