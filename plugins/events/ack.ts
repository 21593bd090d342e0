/**
 * POST /events/ack, one definition for both lanes: the Elysia route (app.ts, its body through the limits'
 * parse hook) and the raw lane (ackWire below: a body that came whole with its head, through the same
 * limits), so a subscriber's acks (the typed one sends one every few ms) skip the tunnel to Bun.serve.
 */
import { CodedError } from "../../src/core/errors";
import { acceptRequestId } from "../../src/core/http";
import type { Logger } from "../../src/core/log";
import type { WireClient, WireHandler, WireRequest } from "../../src/core/wire";
import type { Tracer } from "../../src/lib/trace/trace";
import { writeWireAnswer, type WireAnswer } from "../../src/lib/http1/wire-answer";
import { EventErrors } from "./errors";
import { countRefusal, parseJson, wholeBody } from "./limits";
import type { EventMetrics } from "./metrics";
import { parseFilterId, parseName, type Params } from "./query";
import { replayStreamName } from "./replay";
import type { EventsConfig } from "./schema";
import { StoreUnavailableError, type EventStore, type StoreFactory } from "./store/types";
import { unavailable } from "./subscribe-open";

export interface AckDeps {
  cfg: EventsConfig;
  store: EventStore;
  factory: StoreFactory;
  metrics: EventMetrics;
  log: Logger;
  tracer?: Tracer;
}

/** Acknowledge `body`'s ids ({ group, ids, replay? }); throws the coded refusals. */
export async function ackRequest(d: AckDeps, body: unknown, headers: { get(name: string): string | null }): Promise<{ acked: number }> {
  const b = (body ?? {}) as Params;
  const group = parseName(b.group, "/group")!;
  const replay = parseName(b.replay, "/replay", false);
  const ids = b.ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 10_000) throw EventErrors.EV_ERR_BAD_QUERY("ids must be a non-empty array of stream ids (at most 10000)", "/ids");
  const clean: string[] = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) clean[i] = parseFilterId(ids[i], "/ids", i);
  const target = replay ? d.factory.open(replayStreamName(d.cfg.stream, replay)) : d.store;
  // Under the subscriber's ack span when it sent a traceparent (event-subscriber.ts).
  const span = d.tracer?.serverOf(headers, "events.ack", { "messaging.system": "tradpal", "messaging.operation.type": "settle", "messaging.destination.name": target.stream, "messaging.consumer.group.name": group, "messaging.batch.message_count": clean.length });
  let acked: number;
  try {
    acked = await target.ack(group, clean);
  } catch (err) {
    span?.end({ "http.response.status_code": err instanceof StoreUnavailableError ? 503 : 500 }, err instanceof Error ? err.message : String(err));
    unavailable(err);
  }
  span?.end({ "http.response.status_code": 200, "tradpal.acked": acked });
  d.metrics.acked(group, acked);
  return { acked };
}

/** A refusal as the Elysia app answers it (src/core/http.ts httpConventions: the coded body, or a logged 500). */
export function wireRefusal(err: unknown, requestId: string, log: Logger, path: string): WireAnswer {
  if (err instanceof CodedError) return { status: err.status, body: JSON.stringify(err.toBody()), fields: { "content-type": "application/json", ...err.headers, "x-request-id": requestId } };
  log.error("unhandled error", { err, requestId, path });
  return { status: 500, body: JSON.stringify({ error: { code: "EV_ERR_INTERNAL", message: "internal error" } }), fields: { "content-type": "application/json", "x-request-id": requestId } };
}

const PATH = "/events/ack";
/** The fields of an ack's answer as Elysia gives a handler's object, as one line (no object per ack). */
const ACKED_LINES = "content-type: application/json;charset=utf-8\r\nx-request-id: ";

export function createAckWire(d: AckDeps): WireHandler {
  const { cfg } = d;
  return (req: WireRequest, client: WireClient): boolean => {
    if (req.method !== "POST" || req.special || req.framing !== undefined || req.chunked) return false;
    if (req.contentLength > 0 && req.body === null) return false; // the rest of the body is still on its way
    const t = req.target;
    if (!t.startsWith(PATH) || (t.length !== PATH.length && t.charCodeAt(PATH.length) !== 63 /* ? */)) return false;
    const requestId = acceptRequestId(req.headers.get("x-request-id"));
    const { keepAlive, method, headers } = req;
    let body: unknown;
    try {
      // As the app's parse hook (limits.ts boundedJsonParser): any content type read as JSON, empty is null.
      const raw = wholeBody(req.contentLength, req.body, cfg.max_event_size, EventErrors.EV_ERR_BODY_TOO_LARGE, "max_event_size");
      body = raw.bytes === 0 ? null : parseJson(raw.text, cfg.max_depth, cfg.max_depth).value;
    } catch (err) {
      countRefusal(d.metrics, err);
      writeWireAnswer(client, wireRefusal(err, requestId, d.log, PATH), keepAlive, method);
      return true;
    }
    ackRequest(d, body, headers).then(
      (a) => { if (!client.closed) writeWireAnswer(client, { status: 200, body: JSON.stringify(a), lines: ACKED_LINES + requestId + "\r\n" }, keepAlive, method); },
      (err) => { if (!client.closed) writeWireAnswer(client, wireRefusal(err, requestId, d.log, PATH), keepAlive, method); },
    );
    return true;
  };
}
