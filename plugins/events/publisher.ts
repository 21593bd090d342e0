/**
 * Publishing: validated events → the store, with dedup options, metrics, and store failures mapped to
 * EV_ERR_STORE_UNAVAILABLE (503). A resolved publish means the events are durably in the store.
 */
import { EventErrors } from "./errors";
import { toNewEvent, type EventDefaults, type Violation } from "./validate";
import { StoreUnavailableError, type AppendResult, type EventStore, type NewEvent } from "./store/types";
import type { EventMetrics } from "./metrics";
import type { EventsConfig } from "./schema";

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,200}$/;

export interface PublishOutcome extends AppendResult {
  events: NewEvent[];
}

export class Publisher {
  constructor(private readonly store: EventStore, private readonly metrics: EventMetrics, private readonly cfg: EventsConfig) {}

  /** Validate a POST /events body (one event, `{ events: [...] }` or an array) into events, or throw a coded 400/413. */
  parseBody(body: unknown, defaults: EventDefaults): NewEvent[] {
    const violations: Violation[] = [];
    let items: unknown[] | undefined;
    let prefix = "";
    if (Array.isArray(body)) items = body;
    else if (body && typeof body === "object" && Array.isArray((body as any).events) && !("type" in (body as any))) { items = (body as any).events; prefix = "/events"; }
    if (!items) {
      const one = toNewEvent(body, defaults, "", violations);
      if (!one) throw this.invalid(violations);
      return [one];
    }
    if (items.length === 0) throw EventErrors.EV_ERR_VALIDATION("a batch needs at least one event", prefix || "/");
    if (items.length > this.cfg.max_batch) {
      this.metrics.rejected("batch_too_large");
      throw EventErrors.EV_ERR_BATCH_TOO_LARGE(`batch of ${items.length} events is larger than max_batch ${this.cfg.max_batch}`, prefix || "/");
    }
    const out: NewEvent[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const e = toNewEvent(items[i], defaults, `${prefix}/${i}`, violations);
      if (e) out[i] = e;
      if (violations.length >= 20) break;
    }
    if (violations.length) throw this.invalid(violations);
    return out;
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
   * Idempotency-Key is deduplicated as a whole.
   */
  async publish(events: NewEvent[], idempotencyKey: string | undefined, explicitIds: boolean): Promise<PublishOutcome> {
    const started = performance.now();
    let result: AppendResult;
    try {
      result = await this.store.append(events, { idempotencyKey, dedupById: explicitIds, dedupWindowMs: this.cfg.dedup_window });
    } catch (err) {
      this.metrics.rejected(err instanceof StoreUnavailableError ? "store_unavailable" : "store_error");
      if (err instanceof StoreUnavailableError) throw EventErrors.EV_ERR_STORE_UNAVAILABLE(undefined, undefined, undefined, { "retry-after": "1" });
      throw err;
    }
    this.metrics.latency.observe((performance.now() - started) / 1000);
    if (result.duplicate) this.metrics.duplicates.inc();
    else {
      for (const e of events) this.metrics.published(e.type);
      this.metrics.publishRate.add(events.length);
    }
    (result as PublishOutcome).events = events; // no copy: the result object is ours
    return result as PublishOutcome;
  }
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
