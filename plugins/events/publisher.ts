/**
 * Publishing: validated events → the store, with dedup options, metrics, and store failures mapped to
 * EV_ERR_STORE_UNAVAILABLE (503). A resolved publish means the events are durably in the store.
 */
import { EventErrors } from "./errors";
import { tooDeep, withinDepth } from "./limits";
import { toNewEvent, type EventDefaults, type Violation } from "./validate";
import { StoreUnavailableError, type AppendDone, type AppendResult, type EventStore, type NewEvent } from "./store/types";
import type { EventMetrics } from "./metrics";
import type { EventsConfig } from "./schema";
import { IdempotencyConflictError } from "./idempotency";

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,200}$/;

/** What the body limits need to know of a request body (limits.ts). */
export interface Measured {
  bytes: number;
  /** Nesting depth of the raw text (a little over max_depth at most: deeper is refused before parsing). */
  depth: number;
}

export interface PublishOutcome extends AppendResult {
  eventIds: string[];
}

/** Where a publish's outcome goes (Publisher.publishTo): exactly one is called, neither may throw. */
export interface PublishDone {
  stored(r: PublishOutcome): void;
  /** A coded refusal (409, 503) or a store error. */
  failed(err: unknown): void;
}

/** One publish waiting for its store: the store's AppendDone (one object per publish, no promise or closures). */
class Pending implements AppendDone {
  constructor(private readonly p: Publisher, private readonly events: NewEvent[], private readonly started: number, private readonly done: PublishDone) {}
  stored(result: AppendResult): void {
    this.p.counted(this.events, result, this.started);
    if (result.eventIds === undefined) {
      const ids: string[] = new Array(this.events.length);
      for (let i = 0; i < ids.length; i++) ids[i] = this.events[i].id;
      result.eventIds = ids; // the result object is ours
    }
    this.done.stored(result as PublishOutcome);
  }
  failed(err: unknown): void {
    this.done.failed(this.p.storeFailure(err));
  }
}

export class Publisher {
  constructor(private readonly store: EventStore, private readonly metrics: EventMetrics, private readonly cfg: EventsConfig) {}

  /**
   * Validate a POST /events body (one event, `{ events: [...] }` or an array) into events, or throw a
   * coded 400/413. `measured` (bytes read, depth of the raw text) enforces max_event_size, max_depth
   * and max_batch_bytes per shape: a single event by its body, a batch element by its compact JSON.
   */
  parseBody(body: unknown, defaults: EventDefaults, measured?: Measured): NewEvent[] {
    const violations: Violation[] = [];
    let items: unknown[] | undefined;
    let prefix = "";
    if (Array.isArray(body)) items = body;
    else if (body && typeof body === "object" && Array.isArray((body as any).events) && !("type" in (body as any))) { items = (body as any).events; prefix = "/events"; }
    if (!items) {
      if (measured) this.checkSingle(measured);
      const one = toNewEvent(body, defaults, "", violations);
      if (!one) throw this.invalid(violations);
      return [one];
    }
    if (items.length === 0) throw EventErrors.EV_ERR_VALIDATION("a batch needs at least one event", prefix || "/");
    if (items.length > this.cfg.max_batch) {
      this.metrics.rejected("batch_too_large");
      throw EventErrors.EV_ERR_BATCH_TOO_LARGE(`batch of ${items.length} events is larger than max_batch ${this.cfg.max_batch}`, prefix || "/");
    }
    if (measured) this.checkBatch(items, prefix, measured);
    const out: NewEvent[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const e = toNewEvent(items[i], defaults, `${prefix}/${i}`, violations);
      if (e) out[i] = e;
      if (violations.length >= 20) break;
    }
    if (violations.length) throw this.invalid(violations);
    return out;
  }

  private checkSingle(m: Measured): void {
    if (m.depth > this.cfg.max_depth) throw tooDeep(this.cfg.max_depth);
    if (m.bytes > this.cfg.max_event_size) throw EventErrors.EV_ERR_EVENT_TOO_LARGE(`an event of ${m.bytes} bytes is larger than max_event_size (${this.cfg.max_event_size} bytes)`, "/");
  }

  /** (Counted in rejected_total by the caller, limits.ts countRefusal.) Only a batch whose whole text is over a limit is looked at event by event (the common batch costs nothing). */
  private checkBatch(items: unknown[], prefix: string, m: Measured): void {
    const { max_depth, max_event_size, max_batch_bytes } = this.cfg;
    if (m.bytes > max_batch_bytes) throw EventErrors.EV_ERR_BODY_TOO_LARGE(`a batch of ${m.bytes} bytes is larger than max_batch_bytes (${max_batch_bytes} bytes)`, "body");
    if (m.depth > max_depth) {
      for (let i = 0; i < items.length; i++) if (!withinDepth(items[i], max_depth)) throw tooDeep(max_depth, `${prefix}/${i}`);
    }
    if (m.bytes > max_event_size) {
      for (let i = 0; i < items.length; i++) {
        const n = Buffer.byteLength(JSON.stringify(items[i]) ?? "");
        if (n > max_event_size) throw EventErrors.EV_ERR_EVENT_TOO_LARGE(`event ${i} of the batch is ${n} bytes, larger than max_event_size (${max_event_size} bytes)`, `${prefix}/${i}`);
      }
    }
  }

  private invalid(violations: Violation[]) {
    this.metrics.rejected("validation");
    const unknown = violations.length === 1 && violations[0].message.startsWith("unknown event type");
    const msg = unknown ? violations[0].message : `${violations.length} violation${violations.length > 1 ? "s" : ""}: ${violations[0].where} ${violations[0].message}`;
    return (unknown ? EventErrors.EV_ERR_UNKNOWN_TYPE : EventErrors.EV_ERR_VALIDATION)(msg, violations[0].where, violations);
  }

  checkIdempotencyKey(key: string | null): string | undefined {
    if (key === null) return undefined;
    if (!IDEMPOTENCY_KEY_RE.test(key)) throw EventErrors.EV_ERR_BAD_IDEMPOTENCY_KEY(undefined, "header.idempotency-key");
    return key;
  }

  /**
   * Store events. Events with a publisher-chosen id are deduplicated by id; a request with an
   * Idempotency-Key is deduplicated as a whole: a repeat answers the first request's ids (`eventIds`,
   * `streamIds`), a repeat with another body digest (idempotency.ts bodyDigest) is 409.
   */
  publish(events: NewEvent[], idempotencyKey: string | undefined, explicitIds: boolean, requestDigest?: string): Promise<PublishOutcome> {
    return new Promise((resolve, reject) => this.publishTo(events, idempotencyKey, explicitIds, requestDigest, { stored: resolve, failed: reject }));
  }

  /** publish() reporting to `done` (the raw lane's path: no promise per publish with a store that has appendTo). */
  publishTo(events: NewEvent[], idempotencyKey: string | undefined, explicitIds: boolean, requestDigest: string | undefined, done: PublishDone): void {
    const pending = new Pending(this, events, performance.now(), done);
    const opts = { idempotencyKey, requestDigest, dedupById: explicitIds, dedupWindowMs: this.cfg.dedup_window };
    try {
      if (this.store.appendTo !== undefined) this.store.appendTo(events, opts, pending);
      else settleLater(this.store.append(events, opts), pending);
    } catch (err) {
      pending.failed(err);
    }
  }

  /** Metrics of a settled store write (Pending). */
  counted(events: NewEvent[], result: AppendResult, started: number): void {
    this.metrics.latency.observe(this.metrics.latencyCell, (performance.now() - started) / 1000);
    if (result.duplicate) this.metrics.duplicates.inc();
    else {
      for (const e of events) this.metrics.published(e.type);
      this.metrics.publishRate.add(events.length);
    }
  }

  /** A store's refusal as the publisher answers it: 409 for a reused key, 503 for an outage. */
  storeFailure(err: unknown): unknown {
    if (err instanceof IdempotencyConflictError) {
      this.metrics.rejected("idempotency_conflict");
      return EventErrors.EV_ERR_IDEMPOTENCY_CONFLICT("Idempotency-Key already used for a different request body (within dedup_window); use a new key for a new request", "header.idempotency-key", { ids: err.original.e, streamIds: err.original.s });
    }
    this.metrics.rejected(err instanceof StoreUnavailableError ? "store_unavailable" : "store_error");
    if (err instanceof StoreUnavailableError) return EventErrors.EV_ERR_STORE_UNAVAILABLE(undefined, undefined, undefined, { "retry-after": "1" });
    return err;
  }
}

/** A store without appendTo: its promise settles `pending`. Apart from publishTo: closures there would cost every publish a scope object. */
function settleLater(p: Promise<AppendResult>, pending: AppendDone): void {
  p.then((r) => pending.stored(r), (err) => pending.failed(err));
}

/** True when any input event named its own id (then dedup by id applies). */
export function hasExplicitIds(body: unknown): boolean {
  if (Array.isArray(body)) return body.some((e) => e && typeof e === "object" && "id" in e);
  if (body && typeof body === "object") {
    const b = body as any;
    if (Array.isArray(b.events) && !("type" in b)) return b.events.some((e: any) => e && typeof e === "object" && "id" in e);
    return "id" in b;
  }
  return false;
}
