/**
 * The publish side of the Redis event store: the appends of one event-loop turn coalesced into one script
 * call (plain ones in PUBLISH_LUA, keyed ones in PUBLISH_KEYED_LUA, each key checked and recorded in order),
 * dedup by event id one call each, through Bun's native client when connected (native-publish.ts), and the
 * per-type counts the store flushes to its types hash.
 */
import { PUBLISH_KEYED_LUA, type StreamKeys } from "./redis-keys";
import type { NativePublisher } from "./native-publish";
import { anyTraced, publishKeyed, pushValues, valuesPerEvent, type KeyedAppend } from "./redis-keyed";
import { decodeRecord, replayOf } from "../idempotency";
import { guard, type Conn } from "./redis-store";
import type { AppendDone, AppendOptions, AppendResult, NewEvent, TrimPolicy } from "./types";

/** Most events one coalesced script call carries (bounds the script's run time and argument count). */
const MAX_COALESCED = 2000;

export class RedisAppender {
  /** Per-type publish counts not yet flushed to the {stream}:types hash (flushed by the store's trim()). */
  private typeDeltas = new Map<string, number>();
  private queue: { events: NewEvent[]; done: AppendDone }[] = [];
  private queued = 0;
  /** Publishes with an Idempotency-Key (no per-event dedup) of this turn, for one PUBLISH_KEYED_LUA call. */
  private keyed: KeyedAppend[] = [];
  private keyedCount = 0;

  constructor(private readonly r: Conn, private readonly k: StreamKeys, private readonly policy: TrimPolicy, private readonly native?: NativePublisher) {}

  /** The counts since the last take (the caller flushes them, or puts them back when it cannot). */
  takeTypeDeltas(): Map<string, number> {
    const d = this.typeDeltas;
    this.typeDeltas = new Map();
    return d;
  }

  putBackTypeDeltas(deltas: Map<string, number>): void {
    for (const [t, n] of deltas) this.typeDeltas.set(t, (this.typeDeltas.get(t) ?? 0) + n);
  }

  private trimForAppend(): [string, string] {
    if (this.policy.maxLen > 0) return ["MAXLEN", String(this.policy.maxLen)];
    if (this.policy.maxAgeMs > 0) return ["MINID", String(Date.now() - this.policy.maxAgeMs)];
    return ["", ""];
  }

  private count(events: NewEvent[]) {
    for (const e of events) this.typeDeltas.set(e.type, (this.typeDeltas.get(e.type) ?? 0) + 1);
  }

  append(events: NewEvent[], opts: AppendOptions): Promise<AppendResult> {
    return new Promise((resolve, reject) => this.appendTo(events, opts, { stored: resolve, failed: reject }));
  }

  /** The store's callback append (types.ts AppendDone): no promise per coalesced append. */
  appendTo(events: NewEvent[], opts: AppendOptions, done: AppendDone): void {
    if (events.length === 0) return done.stored({ streamIds: [], duplicate: false });
    if (!opts.idempotencyKey && !opts.dedupById) {
      // Coalesce: appends of one event-loop turn go to Redis as ONE script call (atomic, one round trip);
      // the per-command client cost of ioredis (~13 µs) is paid once per turn instead of once per event.
      this.queue.push({ events, done });
      this.queued += events.length;
      if (this.queue.length === 1) setImmediate(this.flush);
      else if (this.queued >= MAX_COALESCED) this.flush();
      return;
    }
    if (!opts.dedupById) {
      // Every typed-client publish: coalesced like the plain ones, each request still checked and recorded
      // under its own key, in order, inside the one script call (PUBLISH_KEYED_LUA).
      this.keyed.push({ events, opts, done });
      this.keyedCount += events.length;
      if (this.keyed.length === 1) setImmediate(this.flushKeyed);
      else if (this.keyedCount >= MAX_COALESCED) this.flushKeyed();
      return;
    }
    settleLater(this.appendDeduplicated(events, opts), done);
  }

  private flushKeyed = () => {
    const q = this.keyed;
    if (q.length === 0) return;
    this.keyed = [];
    this.keyedCount = 0;
    publishKeyed(q, this.k, this.trimForAppend(), (keys, argv) => this.native?.isReady()
      ? this.native.run(keys, argv, PUBLISH_KEYED_LUA)
      : guard((this.r as any).tradpalPublishKeyed(keys.length, keys, argv)), (events) => this.count(events));
  };

  private async appendDeduplicated(events: NewEvent[], opts: AppendOptions): Promise<AppendResult> {
    const [kind, arg] = this.trimForAppend();
    const keys = [this.k.stream, this.k.idemPrefix + "k:" + (opts.idempotencyKey ?? "")];
    if (opts.dedupById) for (const e of events) keys.push(this.k.idemPrefix + "e:" + e.id);
    const traced = anyTraced(events);
    const argv = [String(opts.dedupWindowMs), opts.idempotencyKey ? "1" : "0", opts.dedupById ? "1" : "0", kind, arg, valuesPerEvent(traced), opts.requestDigest ?? ""];
    for (const e of events) pushValues(argv, e, traced);
    // Through the native client when connected, as the coalesced paths (ioredis' per-command encoding and
    // socket writes were a third of the server's CPU on a keyed publish).
    const [dup, reply] = await (this.native?.isReady()
      ? this.native.run(keys, argv)
      : guard((this.r as any).tradpalPublish(keys.length, keys, argv) as Promise<[number, string]>));
    if (dup === 2) {
      const rec = replayOf(decodeRecord(reply), opts.requestDigest); // throws IdempotencyConflictError
      return { streamIds: rec.s, eventIds: rec.e.length ? rec.e : undefined, duplicate: true };
    }
    if (!dup) this.count(events);
    return { streamIds: reply.split(","), duplicate: dup === 1 };
  }

  private flush = () => {
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = [];
    this.queued = 0;
    const [kind, arg] = this.trimForAppend();
    let traced = false;
    for (const item of q) if (anyTraced(item.events)) { traced = true; break; }
    const argv: string[] = ["0", "0", "0", kind, arg, valuesPerEvent(traced), ""];
    for (const item of q) for (const e of item.events) pushValues(argv, e, traced);
    const call = this.native?.isReady()
      ? this.native.run([this.k.stream, this.k.idemPrefix + "none"], argv)
      : guard((this.r as any).tradpalPublish(2, this.k.stream, this.k.idemPrefix + "none", argv) as Promise<[number, string]>);
    call.then(
      ([, joined]) => {
        const ids = joined.split(",");
        let at = 0;
        for (const item of q) {
          this.count(item.events);
          item.done.stored({ streamIds: ids.slice(at, at + item.events.length), duplicate: false });
          at += item.events.length;
        }
      },
      (err) => { for (const item of q) item.done.failed(err); },
    );
  };
}

/** `p` settles `done`. Apart from appendTo: a closure there would cost every append (every keyed publish) a scope object. */
function settleLater(p: Promise<AppendResult>, done: AppendDone): void {
  p.then((r) => done.stored(r), (err) => done.failed(err));
}
