/**
 * At-least-once delivery over Server-Sent Events, one stream per (group, consumer).
 * First this consumer's own pending entries (a reconnect resumes with them), then two loops side by side:
 * new entries (XREADGROUP BLOCK), and every claim interval the group's entries idle past the visibility
 * timeout (another consumer died or stalled), claimed and sent here; those delivered max_deliveries times
 * go to the dead-letter stream. Nothing is acked here: the consumer acks with POST /events/ack.
 * Events outside `types` are acked without being sent: `types` is the group's filter (fixed by its first
 * subscription, the same for every member: app.ts refuses another with EV_ERR_GROUP_FILTER_MISMATCH), so
 * an event skipped here concerns no member of the group.
 */
import type { Logger } from "../../src/core/log";
import type { Delivery, EventStore } from "./store/types";
import type { EventMetrics } from "./metrics";
import { nowMs, type Tracer } from "../../src/lib/trace/trace";
import { deadLetterSpans, deliverySpans } from "./tracing";
import { sleep } from "../../src/lib/resilience";

export interface SubscribeOptions {
  group: string;
  consumer: string;
  types?: Set<string>;
  batch: number;
  visibilityMs: number;
  maxDeliveries: number;
  heartbeatMs: number;
  /** How long one blocking read waits (bounds how fast a closed subscription notices). */
  blockMs: number;
  /** host.tracing on: events.deliver / events.dead_letter spans under each traced event's publish (tracing.ts). */
  tracer?: Tracer;
}

const enc = new TextEncoder();
/** The answer's fields besides framing, x-request-id and Date (both lanes). */
export const SSE_HEADERS: Readonly<Record<string, string>> = { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" };

/**
 * `traceparent`: the delivery span's (tracing on), sent in place of the stored one. Untraced, the data is
 * the event's JSON with deliveryCount spliced in before its closing brace: the same text as stringifying
 * a copy with deliveryCount added last, without the copy per delivery.
 */
export function frame(d: Delivery, traceparent?: string): string {
  const e = d.event;
  const data = traceparent === undefined
    ? JSON.stringify(e).slice(0, -1) + ',"deliveryCount":' + d.deliveryCount + "}"
    : JSON.stringify({ ...e, traceparent, deliveryCount: d.deliveryCount });
  return "id: " + e.streamId + "\nevent: " + e.type + "\ndata: " + data + "\n\n";
}

/**
 * Where a subscription's SSE text goes: a ReadableStream for the fetch lane (sseStream below) or the
 * client's socket on the raw lane (subscribe-wire.ts).
 */
export interface SseSink {
  write(text: string): void;
  /** undefined when the consumer keeps up; else resolves once it has taken what waits (or the sink ended). */
  behind(): Promise<void> | undefined;
  /** The subscription closed: end the response (the client reconnects and resumes its pending entries). */
  end(): void;
}

export class Subscription {
  private closed = false;
  private sink?: SseSink;
  /** When the stream last carried something (a heartbeat follows heartbeatMs of nothing). */
  private lastSend = Date.now();
  /** Aborted on close: a blocked store read ends at once, so a reader already gone takes no new entries. */
  private readonly abort = new AbortController();

  constructor(private readonly store: EventStore, private readonly opts: SubscribeOptions, private readonly metrics: EventMetrics, private readonly log: Logger, private readonly onEnd: () => void) {}

  /** Begin delivering to `sink`. */
  start(sink: SseSink) {
    this.sink = sink;
    if (this.closed) { sink.end(); return; } // closed (the plugin stopping) before its answer began
    sink.write(`: subscribed group=${this.opts.group} consumer=${this.opts.consumer}\nretry: 1000\n\n`);
    void this.run();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.sink?.end();
    this.onEnd();
  }

  /**
   * Backpressure, before each read: a client that does not read stops the loop (what waits for it stays
   * bounded: the fetch lane's stream holds at most 5 reads' chunks, the raw lane's socket queue one read's)
   * and takes no more entries; its pending ones are reclaimed by other consumers after the visibility timeout.
   */
  private async caughtUp() {
    for (let w = this.sink!.behind(); w !== undefined && !this.closed; w = this.sink!.behind()) await w;
  }

  /**
   * `readAt`: when the store read that returned them began (the deliver spans' start). Not async: a promise
   * (the ack of skipped entries) only when there is one to wait for.
   */
  private send(deliveries: Delivery[], redelivery: boolean, readAt = 0): Promise<number> | undefined {
    let skip: string[] | undefined;
    const tracer = this.opts.tracer;
    const tps = tracer && deliverySpans(tracer, deliveries, { stream: this.store.stream, group: this.opts.group, consumer: this.opts.consumer, types: this.opts.types }, redelivery, readAt || nowMs(), nowMs());
    // One chunk per read, not per event: each chunk is a write through the stream to the socket.
    let out = "";
    let sent = 0;
    for (let i = 0; i < deliveries.length; i++) {
      const d = deliveries[i];
      if (this.opts.types && !this.opts.types.has(d.event.type)) { (skip ??= []).push(d.event.streamId); continue; }
      out += frame(d, tps?.[i]);
      sent++;
    }
    if (this.closed) return undefined; // unsent entries stay pending and are reclaimed after the visibility timeout
    if (out !== "") this.sink!.write(out);
    for (const d of deliveries) {
      if (this.opts.types && !this.opts.types.has(d.event.type)) continue;
      (redelivery || d.deliveryCount > 1 ? this.metrics.redelivered : this.metrics.delivered)(d.event.type);
    }
    this.metrics.deliverRate.add(sent);
    return skip === undefined ? undefined : this.store.ack(this.opts.group, skip);
  }

  private async run() {
    const { group, consumer, batch, visibilityMs, heartbeatMs, blockMs, tracer } = this.opts;
    const at = (): number => (tracer ? nowMs() : 0);
    try {
      let after: string | undefined;
      while (!this.closed) {
        const t0 = at();
        await this.caughtUp();
        const own = await this.store.readOwnPending(group, consumer, batch, after);
        if (own.length === 0) break;
        await this.send(own, true, t0);
        after = own[own.length - 1].event.streamId;
        if (own.length < batch) break;
      }
    } catch (err) {
      this.log.warn("subscriber could not resume its pending entries", { group, consumer, err });
    }
    // Claims go on beside the reads: a new entry never waits for a claim's round trips (XPENDING, XAUTOCLAIM).
    if (!this.closed) void this.claimLoop(Math.max(50, Math.min(1000, Math.floor(visibilityMs / 4))));
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.sink!.behind() !== undefined) await this.caughtUp(); // no await (a tick) per delivery when it keeps up
        if (this.closed) break;
        const t0 = at();
        const fresh = await this.store.readGroup(group, consumer, batch, blockMs, this.abort.signal);
        if (fresh.length) {
          const skipped = this.send(fresh, false, t0);
          if (skipped !== undefined) await skipped;
          this.lastSend = Date.now();
        }
        else if (Date.now() - this.lastSend >= heartbeatMs && !this.closed) { this.sink!.write(": heartbeat\n\n"); this.lastSend = Date.now(); }
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        failures++;
        this.log.warn("subscription read failed", { group, consumer, err, failures });
        if (failures >= 5) { this.close(); break; } // the client reconnects (with backoff) and resumes from its pending entries
        await Bun.sleep(Math.min(1000, 50 * 2 ** failures));
      }
    }
  }

  /**
   * Every `everyMs`, the group's entries idle past the visibility timeout are claimed and sent here (dead
   * letters past max_deliveries); a full batch claims again at once (a dead consumer's backlog).
   */
  private async claimLoop(everyMs: number) {
    const { group, consumer, batch, visibilityMs, maxDeliveries, tracer } = this.opts;
    let failures = 0;
    let backlog = false;
    while (!this.closed) {
      try {
        if (!backlog) await sleep(everyMs, this.abort.signal); // rejects once closed
        await this.caughtUp();
        if (this.closed) break;
        const t0 = tracer ? nowMs() : 0;
        const claimed = await this.store.claimIdle(group, consumer, visibilityMs, batch, maxDeliveries);
        for (const e of claimed.deadLettered) this.metrics.deadLettered(e.type);
        if (tracer && claimed.deadLettered.length) deadLetterSpans(tracer, claimed.deadLettered, { stream: this.store.stream, group, consumer }, maxDeliveries, t0, nowMs());
        if (claimed.deliveries.length) { await this.send(claimed.deliveries, true, t0); this.lastSend = Date.now(); }
        backlog = claimed.deliveries.length + claimed.deadLettered.length >= batch;
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        backlog = false;
        failures++;
        this.log.warn("subscription claim failed", { group, consumer, err, failures });
        if (failures >= 5) { this.close(); break; } // as for reads: the client reconnects and resumes
        await Bun.sleep(Math.min(1000, 50 * 2 ** failures));
      }
    }
  }
}

/** The fetch lane's response body for `sub` (one chunk per write). */
export function sseStream(sub: Subscription): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start: (c) => sub.start({
      write: (text) => c.enqueue(enc.encode(text)),
      // The queue counts chunks (high-water mark 1): more than 5 waiting is a client that stopped reading.
      behind: () => ((c.desiredSize ?? 0) < -4 ? Bun.sleep(10) : undefined),
      end: () => { try { c.close(); } catch { /* already closed */ } },
    }),
    cancel: () => sub.close(),
  });
}
