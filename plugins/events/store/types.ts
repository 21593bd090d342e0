/**
 * The EventStore contract: one stream of events with consumer groups, pending entries, redelivery,
 * dead letters, dedup and trimming. Two implementations (Redis Streams, embedded bun:sqlite) pass the
 * same conformance suite (conformance.ts). Stream ids are "<ms>-<n>" in both, ordered, and the
 * ms part is the time the store accepted the event.
 */
import type { PlatformEventEnvelope } from "../../../src/contracts/event-catalog";

/**
 * The W3C trace context an event was published under (`traceparent`: the publish span, or the publisher's
 * own span when this process does not trace), stored with it so delivery, ack and dead-letter spans can
 * join the publisher's trace. Optional: absent when the publisher sent none and tracing is off.
 */
export interface Traced { traceparent?: string }
/** An event ready to store (validated, defaults filled): the envelope minus its stream position. */
export type NewEvent = Omit<PlatformEventEnvelope, "streamId"> & Traced;
export type StoredEvent = PlatformEventEnvelope & Traced;

export interface AppendOptions {
  /** Request-level idempotency key: a second append with the same key inside the window returns the first result. */
  idempotencyKey?: string;
  /** Digest of the request's canonical body (idempotency.ts): a repeat of the key with another digest is a conflict. */
  requestDigest?: string;
  /** Per-event dedup by event id (events whose id was published inside the window are not stored twice). */
  dedupById?: boolean;
  dedupWindowMs: number;
}

export interface AppendResult {
  /** Stream ids, one per input event (the earlier id for a duplicate). */
  streamIds: string[];
  /** Event ids, one per input event: for a request-key duplicate those of the first request (absent: the input's ids). */
  eventIds?: string[];
  /** True when the whole request was a replay of an earlier one (idempotency key or all ids seen). */
  duplicate: boolean;
}

/**
 * Where a callback append's outcome goes (EventStore.appendTo): exactly one of the two is called, and
 * neither may throw (a store settles a whole coalesced call's appends in one loop). An
 * object, not a promise: a publish's per-request state can be this object itself (no promise, no
 * reaction closures per publish: the allocations drive the server's eden GCs, hence delivery tail latency).
 */
export interface AppendDone {
  stored(r: AppendResult): void;
  failed(err: unknown): void;
}

export interface ReadQuery {
  /** Exclusive lower bound (a cursor) or inclusive when `fromInclusive`. */
  afterId?: string;
  fromId?: string;
  toId?: string;
  fromMs?: number;
  toMs?: number;
  types?: string[];
  source?: string;
  limit: number;
  /** Upper bound of entries examined per call, so a sparse filter cannot scan the whole stream. */
  scanLimit?: number;
}

export interface ReadPage {
  events: StoredEvent[];
  /** Pass as afterId to continue; absent when the range is exhausted. */
  next?: string;
}

export interface Delivery {
  event: StoredEvent;
  /** How many times this entry has been delivered to the group (1 = first time). */
  deliveryCount: number;
}

export interface ClaimResult {
  deliveries: Delivery[];
  /** Entries that exceeded maxDeliveries and were moved to the dead-letter stream. */
  deadLettered: StoredEvent[];
}

export interface GroupInfo {
  name: string;
  consumers: number;
  pending: number;
  lastDeliveredId: string;
  /** Entries not yet delivered to the group (null when the store cannot tell). */
  lag: number | null;
  /** The group's type filter, fixed by its first subscription: "*" (every type), "a,b" (sorted), null (not fixed yet). */
  filter?: string | null;
}

export interface StoreStats {
  stream: string;
  length: number;
  firstId: string | null;
  lastId: string | null;
  perType: Record<string, number>;
  groups: GroupInfo[];
  deadLetters: number;
  /** Entries removed by trimming since the stream was created. */
  trimmed: number;
}

export interface DeadLetter {
  event: StoredEvent;
  group: string;
  deliveries: number;
  deadLetteredAt: number;
}

export interface EventStore {
  readonly kind: "redis" | "embedded";
  readonly stream: string;
  append(events: NewEvent[], opts: AppendOptions): Promise<AppendResult>;
  /** Optional: append() reporting to `done` instead of a promise (the Redis store's hot publish path). */
  appendTo?(events: NewEvent[], opts: AppendOptions, done: AppendDone): void;
  read(q: ReadQuery): Promise<ReadPage>;
  /** Create the group if absent. start "$" = only new events, "0" = from the beginning, or an id. */
  ensureGroup(group: string, start: string): Promise<void>;
  /**
   * Fix the group's type filter if it has none yet (atomically: the first caller wins) and return the
   * group's filter, so the caller can refuse a member asking for another one. The group must exist.
   */
  bindGroupFilter(group: string, filter: string): Promise<string>;
  /**
   * New entries for this consumer (moved into its pending list); waits up to blockMs when none. `signal`:
   * the reader went away, give up the wait (a store may ignore it; it then returns within blockMs).
   */
  readGroup(group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Delivery[]>;
  /** This consumer's own pending entries after `afterId` (a reconnecting consumer resumes with them; page with the last id). */
  readOwnPending(group: string, consumer: string, count: number, afterId?: string): Promise<Delivery[]>;
  ack(group: string, streamIds: string[]): Promise<number>;
  /**
   * Entries pending longer than minIdleMs in the group, reassigned to `consumer`; those delivered
   * maxDeliveries times already go to the dead-letter stream instead (and are acked in the group).
   */
  claimIdle(group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): Promise<ClaimResult>;
  readDeadLetters(limit: number): Promise<DeadLetter[]>;
  stats(): Promise<StoreStats>;
  /** Removes entries beyond the configured length/age; returns how many were removed (Redis: 0, it trims on append). */
  trim(): Promise<number>;
  /** Delete the stream and everything derived from it (tests, replay targets). */
  destroy(): Promise<void>;
  /** Liveness of the backing store. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface TrimPolicy {
  /** Keep about this many entries (0 = unbounded). */
  maxLen: number;
  /** Drop entries older than this (0 = keep forever). */
  maxAgeMs: number;
}

/** Opens stores by stream name over one backing connection/database. */
export interface StoreFactory {
  readonly kind: "redis" | "embedded";
  open(stream: string): EventStore;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Store unavailable (Redis down, timeout): the HTTP layer answers 503. */
export class StoreUnavailableError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

export function compareIds(a: string, b: string): number {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

export function splitId(id: string): [number, number] {
  const dash = id.indexOf("-");
  if (dash < 0) return [Number(id), 0];
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export const STREAM_ID_RE = /^\d{1,15}(-\d{1,19})?$/;
