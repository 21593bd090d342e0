/**
 * Concurrent publishes of one EventClient, sent together: every publish made in the same turn of the
 * event loop goes out as ONE atomic `POST /events` batch, as a Kafka producer batches its sends (here
 * with no linger: the batch leaves at the end of the turn). Each publish still gets its own answer:
 * its event's id and stream id, resolved once the batch is stored durably (201).
 *
 * What a caller sees is what it would see with one request per publish:
 * - a publish alone in its turn is sent alone (the same request as without coalescing);
 * - a batch is retried (503, 429, no answer) with its own Idempotency-Key, so a retry never stores an
 *   event twice; a retried batch the service had stored answers `duplicate: true` for each event;
 * - a batch is atomic: when the service refuses it for one of its events (a coded 4xx whose `where`
 *   is inside the batch, `/events/3/...`) or for its size, nothing was stored, so each event is sent
 *   again alone and gets its own answer (the bad one its own coded error, the others their ids);
 * - a service with a smaller `max_batch` than our groups answers 413 EV_ERR_BATCH_TOO_LARGE: the group
 *   size is halved for later batches.
 * Publishes with their own Idempotency-Key or traceparent (they name one request) are never coalesced.
 */
import type { EventInput } from "../contracts/event-catalog";
import { ServiceError } from "./http";

/** For a duplicate (`duplicate: true`): the id and position of the event the first request stored. */
export interface PublishResult { id: string; streamId: string; duplicate: boolean }
export interface BatchResult { count: number; ids: string[]; streamIds: string[]; duplicate: boolean }

/** Most events in one coalesced batch (the service's default max_batch is 1000). */
export const MAX_GROUP = 100;

/** Refusals of a whole batch that say nothing against any one of its events. */
const BATCH_SIZE_CODES = new Set(["EV_ERR_BATCH_TOO_LARGE", "EV_ERR_BODY_TOO_LARGE"]);

interface Pending { body: EventInput; resolve(r: PublishResult): void; reject(e: unknown): void }

export class PublishCoalescer {
  private group: Pending[] = [];
  private cap = MAX_GROUP;

  constructor(
    /** One event, one request (with the client's retries). */
    private readonly sendOne: (body: EventInput) => Promise<PublishResult>,
    /** Several events, one atomic request (with the client's retries, one Idempotency-Key for all). */
    private readonly sendBatch: (bodies: EventInput[]) => Promise<BatchResult>,
  ) {}

  /** The largest batch this coalescer sends now (halved after a service's EV_ERR_BATCH_TOO_LARGE). */
  get groupCap(): number { return this.cap; }

  publish(body: EventInput): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      // The turn's first publish schedules the send; the others of the turn join it.
      if (this.group.length === 0) setImmediate(this.flush);
      this.group.push({ body, resolve, reject });
      if (this.group.length >= this.cap) this.flush();
    });
  }

  private readonly flush = (): void => {
    const g = this.group;
    if (g.length === 0) return;
    this.group = [];
    if (g.length === 1) { this.alone(g[0]); return; }
    this.sendBatch(g.map((p) => p.body)).then(
      (r) => { for (let i = 0; i < g.length; i++) g[i].resolve({ id: r.ids[i], streamId: r.streamIds[i], duplicate: r.duplicate }); },
      (err: unknown) => this.refused(g, err),
    );
  };

  private alone(p: Pending): void {
    this.sendOne(p.body).then(p.resolve, p.reject);
  }

  /** The batch failed: nothing of it was stored (atomic). Each event alone when the refusal is about one of them or the size. */
  private refused(g: Pending[], err: unknown): void {
    const separable = err instanceof ServiceError && !err.retryable &&
      (BATCH_SIZE_CODES.has(err.code) || (err.where !== undefined && err.where.startsWith("/events/")));
    if (!separable) { for (const p of g) p.reject(err); return; }
    if (err.code === "EV_ERR_BATCH_TOO_LARGE") this.cap = Math.max(1, Math.min(this.cap, g.length >> 1));
    for (const p of g) this.alone(p);
  }
}
