/**
 * Spans of the events plugin's work beyond the publish request (hot-path.ts records events.publish and
 * events.store): delivery to a subscriber, dead-lettering, and the ack request. Each joins the trace the
 * event was published under through the traceparent stored with it (store/types.ts Traced).
 *
 * Every function here is only reached with a tracer (host.tracing on); with tracing off the callers hold
 * `undefined` and skip the call, so nothing runs and nothing is allocated. The one thing that happens
 * without a tracer: a publisher's own valid traceparent header is stored with its events (one header read),
 * so a traced consumer can still continue the publisher's trace through an untraced events plugin.
 */
import { formatTraceparent, parseTraceparent, randomHex, SPAN_KIND, type TraceContext, type Tracer } from "../../src/lib/trace/trace";
import { splitId, type Delivery, type StoredEvent } from "./store/types";

/** The traceparent to store with a request's events: the publish span's when traced, else the caller's valid one. */
export function publishTraceparent(headers: { get(name: string): string | null }, spanTraceparent: string | undefined): string | undefined {
  if (spanTraceparent !== undefined) return spanTraceparent;
  const h = headers.get("traceparent");
  return h !== null && parseTraceparent(h) !== undefined ? h.trim() : undefined;
}

/** The sampled trace context an event was published under (undefined: none, malformed or not sampled). */
export function eventContext(e: StoredEvent): TraceContext | undefined {
  const p = parseTraceparent(e.traceparent);
  return p?.sampled ? p : undefined;
}

export interface DeliveryTarget { stream: string; group: string; consumer: string }

/**
 * An events.deliver span (PRODUCER: the push to the consumer) per traced delivery, from `start` (the store
 * read began; a blocking read that waited for the event: the time the store accepted it, its stream id's ms)
 * to `end`. Returns the traceparent to send with each delivery (the deliver span, so the
 * consumer's span is its child), or undefined at an index whose event is not traced (the stored one goes out)
 * or is not sent (outside `types`, the group's filter).
 */
export function deliverySpans(tracer: Tracer, deliveries: Delivery[], t: DeliveryTarget & { types?: Set<string> }, redelivery: boolean, start: number, end: number): (string | undefined)[] {
  const out: (string | undefined)[] = new Array(deliveries.length);
  for (let i = 0; i < deliveries.length; i++) {
    const d = deliveries[i];
    if (t.types && !t.types.has(d.event.type)) continue; // outside the group's filter: acked, not sent
    const ctx = eventContext(d.event);
    if (ctx === undefined) continue;
    const id = randomHex(16);
    const from = Math.min(end, Math.max(start, splitId(d.event.streamId)[0]));
    tracer.span(ctx, "events.deliver", SPAN_KIND.producer, from, end, {
      "messaging.system": "tradpal", "messaging.operation.type": "send", "messaging.destination.name": t.stream,
      "messaging.consumer.group.name": t.group, "tradpal.consumer": t.consumer, "messaging.message.id": d.event.id,
      "tradpal.stream_id": d.event.streamId, "tradpal.delivery_count": d.deliveryCount, "tradpal.redelivery": redelivery || d.deliveryCount > 1,
      "event.type": d.event.type,
    }, undefined, id);
    out[i] = formatTraceparent(ctx.traceId, id, true);
  }
  return out;
}

/** An events.dead_letter span per traced event moved to the dead-letter stream (an error span: it was never handled). */
export function deadLetterSpans(tracer: Tracer, events: StoredEvent[], t: DeliveryTarget, maxDeliveries: number, start: number, end: number): void {
  for (const e of events) {
    const ctx = eventContext(e);
    if (ctx === undefined) continue;
    tracer.span(ctx, "events.dead_letter", SPAN_KIND.internal, start, end, {
      "messaging.system": "tradpal", "messaging.destination.name": t.stream, "messaging.consumer.group.name": t.group,
      "messaging.message.id": e.id, "tradpal.stream_id": e.streamId, "tradpal.max_deliveries": maxDeliveries, "event.type": e.type,
    }, `dead-lettered after ${maxDeliveries} deliveries`);
  }
}
