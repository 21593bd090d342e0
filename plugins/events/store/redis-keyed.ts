/**
 * The keyed publishes of one event-loop turn (every typed-client publish carries an Idempotency-Key) as
 * one PUBLISH_KEYED_LUA call (redis-keys.ts): one round trip and one command's client cost for the
 * turn, where each request used to be its own script call. Each request is still checked and recorded
 * under its own key inside the script, in order; here each caller gets its own answer: its stream ids,
 * the first request's ids (a repeat with the same digest) or IdempotencyConflictError (another digest).
 */
import { decodeRecord, replayOf } from "../idempotency";
import { EVENT_FIELDS, type StreamKeys } from "./redis-keys";
import type { AppendDone, AppendOptions, NewEvent } from "./types";

export interface KeyedAppend { events: NewEvent[]; opts: AppendOptions; done: AppendDone }

/**
 * Appends an event's values in EVENT_FIELDS order (the publish scripts pair them with the field names);
 * the last one (tp) only when `traced`: a call whose events carry no trace context sends one value fewer
 * per event (valuesPerEvent(false)), so tracing off costs nothing on the wire or in the script.
 */
export function pushValues(argv: string[], e: NewEvent, traced: boolean) {
  argv.push(e.id, e.type, e.source, e.time, e.correlationId, String(e.schemaVersion), JSON.stringify(e.payload));
  if (traced) argv.push(e.traceparent ?? "");
}
const WITH_TP = String(EVENT_FIELDS.length);
const WITHOUT_TP = String(EVENT_FIELDS.length - 1);
export const valuesPerEvent = (traced: boolean) => (traced ? WITH_TP : WITHOUT_TP);
/** True when any event of the call carries a trace context. */
export function anyTraced(events: NewEvent[]): boolean {
  for (const e of events) if (e.traceparent !== undefined) return true;
  return false;
}

/** Send the requests `q` in one call (`send`: the script call, native or ioredis) and settle each. */
export function publishKeyed(q: KeyedAppend[], k: StreamKeys, [kind, arg]: [string, string], send: (keys: string[], argv: string[]) => Promise<(number | string)[]>, stored: (events: NewEvent[]) => void): void {
  const keys = [k.stream];
  let traced = false;
  for (const item of q) if (anyTraced(item.events)) { traced = true; break; }
  const argv: string[] = [kind, arg, valuesPerEvent(traced)];
  for (const item of q) {
    keys.push(k.idemPrefix + "k:" + item.opts.idempotencyKey);
    argv.push(String(item.opts.dedupWindowMs), item.opts.requestDigest ?? "", String(item.events.length));
    for (const e of item.events) pushValues(argv, e, traced);
  }
  send(keys, argv).then(
    (out) => {
      for (let i = 0; i < q.length; i++) {
        const item = q[i];
        const reply = String(out[2 * i + 1]);
        if (Number(out[2 * i]) !== 2) {
          stored(item.events);
          item.done.stored({ streamIds: reply.split(","), duplicate: false });
          continue;
        }
        let rec;
        try { rec = replayOf(decodeRecord(reply), item.opts.requestDigest); } catch (err) { item.done.failed(err); continue; } // IdempotencyConflictError
        item.done.stored({ streamIds: rec.s, eventIds: rec.e.length ? rec.e : undefined, duplicate: true });
      }
    },
    (err) => { for (const item of q) item.done.failed(err); },
  );
}
