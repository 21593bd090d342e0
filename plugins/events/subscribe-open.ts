/**
 * GET /events/subscribe up to its first byte: the query checked, the group made and its type filter bound,
 * the Subscription opened. One definition for both lanes (app.ts on the fetch lane, subscribe-wire.ts on
 * the raw lane): the same checks in the same order, the same coded errors.
 */
import { EventErrors } from "./errors";
import { parseName, parseTypes } from "./query";
import { replayStreamName } from "./replay";
import { Subscription } from "./subscribe";
import { StoreUnavailableError, type StoreFactory, type EventStore } from "./store/types";
import type { EventMetrics } from "./metrics";
import type { EventsConfig } from "./schema";
import type { Logger } from "../../src/core/log";
import type { Tracer } from "../../src/lib/trace/trace";

export interface SubscribeDeps {
  cfg: EventsConfig;
  store: EventStore;
  factory: StoreFactory;
  metrics: EventMetrics;
  log: Logger;
  subscriptions: Set<Subscription>;
  tracer?: Tracer;
}

/** A store failure as the API's coded 503 (anything else is rethrown: the lane answers its 500). */
export function unavailable(err: unknown): never {
  if (err instanceof StoreUnavailableError) throw EventErrors.EV_ERR_STORE_UNAVAILABLE(undefined, undefined, undefined, { "retry-after": "1" });
  throw err;
}

/** Canonical group filter: "*" for every type, else the sorted distinct types joined by ",". */
function groupFilterOf(types: string[] | undefined): string {
  return types && types.length ? [...new Set(types)].sort().join(",") : "*";
}

/**
 * `sp`: the request's query. A repeated key counts once, its last value (as Elysia's parsed query), except
 * type=/types=, where every repeat counts. Throws the coded refusals; the caller starts the subscription.
 */
export async function openSubscription(d: SubscribeDeps, sp: URLSearchParams): Promise<Subscription> {
  const { cfg, metrics } = d;
  const q = Object.fromEntries(sp);
  const group = parseName(q.group, "query.group")!;
  const consumer = parseName(q.consumer, "query.consumer")!;
  const replay = parseName(q.replay, "query.replay", false);
  const start = q.start === "all" || q.start === "0" ? "0" : "$";
  if (d.subscriptions.size >= cfg.subscribe.max_subscribers) throw EventErrors.EV_ERR_TOO_MANY_SUBSCRIBERS();
  const types = parseTypes({ type: sp.getAll("type"), types: sp.getAll("types") }, "query.types");
  const target = replay ? d.factory.open(replayStreamName(cfg.stream, replay)) : d.store;
  await target.ensureGroup(group, start).catch(unavailable);
  // The type filter is the group's, fixed by its first subscription (as a JetStream consumer's filter
  // subjects): every member receives every event of it, so no member can ack away events it cannot handle.
  const asked = groupFilterOf(types);
  const bound = await target.bindGroupFilter(group, asked).catch(unavailable);
  if (bound !== asked) {
    throw EventErrors.EV_ERR_GROUP_FILTER_MISMATCH(`group ${group} filters types ${bound === "*" ? "(all)" : bound}, this subscription asked for ${asked === "*" ? "(all)" : asked}; every member of a group must handle the same types (use another group name for another set)`, "query.types", { group: bound, asked });
  }
  const sub: Subscription = new Subscription(target, {
    group, consumer, types: types ? new Set(types) : undefined, batch: cfg.subscribe.batch, visibilityMs: cfg.visibility_timeout,
    maxDeliveries: cfg.max_deliveries, heartbeatMs: cfg.subscribe.heartbeat, blockMs: 1000, tracer: d.tracer,
  }, metrics, d.log, () => { d.subscriptions.delete(sub); metrics.subscribers.set(d.subscriptions.size); });
  d.subscriptions.add(sub);
  metrics.subscribers.set(d.subscriptions.size);
  return sub;
}
