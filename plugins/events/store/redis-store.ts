/**
 * Redis Streams EventStore (selected when host.redis_url is set; built by redis-factory.ts). Publish
 * (redis-append.ts): XADDs, then one approximate MAXLEN/MINID trim, the appends of one event-loop turn
 * coalesced into one script call; dedup through a Lua script on same-slot keys (redis-keys.ts). Consume: XREADGROUP, XACK, XPENDING, XCLAIM/XAUTOCLAIM past a visibility
 * timeout, a dead-letter stream after N deliveries. A Redis that is down or slow → StoreUnavailableError
 * (the HTTP layer answers 503), never a hang: no offline queue, a command timeout, no blind resend.
 */
import type Redis from "../../../src/lib/redis";
import { Cluster } from "../../../src/lib/redis";
import { keysFor, F, type StreamKeys } from "./redis-keys";
import type { NativePublisher } from "./native-publish";
import type { BlockingReader } from "./redis-blocking-pool";
import { RedisAppender } from "./redis-append";
import {
  StoreUnavailableError, splitId, type AppendDone, type AppendOptions, type AppendResult, type ClaimResult, type DeadLetter, type Delivery,
  type EventStore, type NewEvent, type ReadPage, type ReadQuery, type StoreStats, type StoredEvent, type TrimPolicy,
} from "./types";

export type Entry = [string, string[] | null];
/** A single node or a Redis Cluster: the key scheme keeps each stream's keys in one slot (redis-keys.ts). */
export type Conn = Redis | Cluster;


/** A stream entry as an event. Fields read straight off the reply's pairs: no record object per delivery. */
function toEvent(id: string, f: string[]): StoredEvent {
  let eid: string | undefined, type: string | undefined, source: string | undefined, time: string | undefined;
  let cid: string | undefined, ver: string | undefined, raw: string | undefined, tp: string | undefined;
  // The last of a repeated field wins (as a record built from the pairs would have it).
  for (let i = 0; i + 1 < f.length; i += 2) {
    const v = f[i + 1];
    switch (f[i]) {
      case F.id: eid = v; break;
      case F.type: type = v; break;
      case F.source: source = v; break;
      case F.time: time = v; break;
      case F.cid: cid = v; break;
      case F.ver: ver = v; break;
      case F.payload: raw = v; break;
      case F.tp: tp = v; break;
    }
  }
  let payload: any = {};
  try { payload = JSON.parse(raw ?? "{}"); } catch { /* written by someone else: keep the entry, empty payload */ }
  const e: StoredEvent = { id: eid ?? id, streamId: id, type: (type ?? "custom.unknown") as StoredEvent["type"], source: source ?? "", time: time ?? new Date(splitId(id)[0]).toISOString(), correlationId: cid ?? "", schemaVersion: Number(ver ?? 1), payload };
  if (tp) e.traceparent = tp;
  return e;
}

/** The entries that still exist (a trimmed one comes back with no fields) as first deliveries. */
function deliveriesOf(entries: Entry[]): Delivery[] {
  const out: Delivery[] = [];
  for (let i = 0; i < entries.length; i++) {
    const f = entries[i][1];
    if (f) out.push({ event: toEvent(entries[i][0], f), deliveryCount: 1 });
  }
  return out;
}

/** Connection failures and timeouts become StoreUnavailableError; Redis reply errors pass through. */
function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === "ReplyError";
}
export async function guard<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (isReplyError(err)) throw err;
    throw new StoreUnavailableError(`redis unavailable: ${(err as Error).message}`, err);
  }
}

export class RedisEventStore implements EventStore {
  readonly kind = "redis" as const;
  private readonly k: StreamKeys;
  private readonly appender: RedisAppender;

  constructor(private readonly r: Conn, private readonly blocking: BlockingReader, readonly stream: string, private readonly policy: TrimPolicy, private readonly native?: NativePublisher) {
    this.k = keysFor(stream);
    this.appender = new RedisAppender(r, this.k, policy, native);
  }

  /** Publishing: see redis-append.ts. */
  append(events: NewEvent[], opts: AppendOptions): Promise<AppendResult> {
    return this.appender.append(events, opts);
  }

  appendTo(events: NewEvent[], opts: AppendOptions, done: AppendDone): void {
    this.appender.appendTo(events, opts, done);
  }

  async read(q: ReadQuery): Promise<ReadPage> {
    let start = "-";
    let end = "+";
    const raise = (id: string) => { if (start === "-" || cmp(id, start) > 0) start = id; };
    const lower = (id: string) => { if (end === "+" || cmp(id, end) < 0) end = id; };
    if (q.fromId) raise(q.fromId.includes("-") ? q.fromId : `${q.fromId}-0`);
    if (q.fromMs !== undefined) raise(`${q.fromMs}-0`);
    if (q.toId) lower(q.toId.includes("-") ? q.toId : `${q.toId}-${Number.MAX_SAFE_INTEGER}`);
    if (q.toMs !== undefined) lower(`${q.toMs}-${Number.MAX_SAFE_INTEGER}`);
    let exclusive = false;
    if (q.afterId && (start === "-" || cmp(q.afterId, start) >= 0)) { start = q.afterId; exclusive = true; }
    const types = q.types && q.types.length ? new Set(q.types) : undefined;
    const scanLimit = q.scanLimit ?? 10_000;
    const chunk = Math.min(1000, Math.max(100, q.limit * 2));
    const events: StoredEvent[] = [];
    let scanned = 0;
    while (scanned < scanLimit) {
      const entries = (await guard(this.r.xrange(this.k.stream, exclusive ? `(${start}` : start, end, "COUNT", chunk))) as Entry[];
      for (const [id, f] of entries) {
        scanned++;
        if (!f) continue;
        const ev = toEvent(id, f);
        if ((types && !types.has(ev.type)) || (q.source && ev.source !== q.source)) continue;
        events.push(ev);
        if (events.length === q.limit) return { events, next: id };
      }
      if (entries.length < chunk) return { events };
      start = entries[entries.length - 1][0];
      exclusive = true;
    }
    return { events, next: start };
  }

  async ensureGroup(group: string, start: string): Promise<void> {
    try {
      await guard(this.r.xgroup("CREATE", this.k.stream, group, start, "MKSTREAM"));
    } catch (err) {
      if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
    }
  }

  async bindGroupFilter(group: string, filter: string): Promise<string> {
    // HSETNX: the first binding wins, whoever comes second reads it back.
    await guard(this.r.hsetnx(this.k.groupFilters, group, filter));
    return ((await guard(this.r.hget(this.k.groupFilters, group))) as string | null) ?? filter;
  }

  /** Not async: the blocking read (one per delivery at 1,000/s) is one reaction, not an async frame's promises. */
  readGroup(group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    if (blockMs > 0) return this.blocking.readGroup(this.k.stream, group, consumer, count, blockMs, signal, deliveriesOf);
    return guard(this.r.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", this.k.stream, ">")).then((reply) => deliveriesOf(reply ? (reply as [string, Entry[]][])[0][1] : []));
  }

  async readOwnPending(group: string, consumer: string, count: number, afterId?: string): Promise<Delivery[]> {
    const pend = (await guard(this.r.xpending(this.k.stream, group, afterId ? `(${afterId}` : "-", "+", count, consumer))) as [string, string, number, number][];
    if (pend.length === 0) return [];
    const counts = new Map(pend.map(([id, , , n]) => [id, n]));
    const reply = (await guard(this.r.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", this.k.stream, afterId ?? "0"))) as [string, Entry[]][] | null;
    if (!reply) return [];
    const gone = reply[0][1].filter(([, f]) => !f).map(([id]) => id);
    if (gone.length) await guard(this.r.xack(this.k.stream, group, ...gone)); // trimmed away: nothing to deliver
    return reply[0][1].filter(([, f]) => f).map(([id, f]) => ({ event: toEvent(id, f!), deliveryCount: (counts.get(id) ?? 1) + 1 }));
  }

  async ack(group: string, streamIds: string[]): Promise<number> {
    if (streamIds.length === 0) return 0;
    // Through the native client when connected, as publishes (an ack every few ms per subscriber).
    if (this.native?.isReady()) return Number(await this.native.send("XACK", [this.k.stream, group, ...streamIds]));
    return (await guard(this.r.xack(this.k.stream, group, ...streamIds))) as number;
  }

  async claimIdle(group: string, consumer: string, minIdleMs: number, count: number, maxDeliveries: number): Promise<ClaimResult> {
    const out: ClaimResult = { deliveries: [], deadLettered: [] };
    const idle = (await guard(this.r.xpending(this.k.stream, group, "IDLE", minIdleMs, "-", "+", count))) as [string, string, number, number][];
    if (idle.length === 0) return out;
    const exhausted = idle.filter(([, , , n]) => n >= maxDeliveries).map(([id]) => id);
    const counts = new Map(idle.map(([id, , , n]) => [id, n]));
    if (exhausted.length) {
      // XCLAIM with min-idle: only one claimer wins an entry, so it is dead-lettered once.
      const won = (await guard((this.r as Redis).xclaim(this.k.stream, group, consumer, minIdleMs, ...exhausted))) as Entry[];
      const now = Date.now();
      const multi = this.r.multi();
      for (const [id, f] of won) {
        if (!f) continue;
        const ev = toEvent(id, f);
        out.deadLettered.push(ev);
        multi.xadd(this.k.dlq, "*", "group", group, "deliveries", String(counts.get(id) ?? maxDeliveries), "at", String(now), "event", JSON.stringify(ev));
      }
      if (won.length) multi.xack(this.k.stream, group, ...won.map(([id]) => id));
      await guard(multi.exec());
    }
    const rest = idle.filter(([, , , n]) => n < maxDeliveries);
    if (rest.length) {
      const [, entries] = (await guard(this.r.xautoclaim(this.k.stream, group, consumer, minIdleMs, rest[0][0], "COUNT", rest.length))) as [string, Entry[], string[]];
      for (const [id, f] of entries) {
        if (!f) continue;
        if ((counts.get(id) ?? 0) >= maxDeliveries) continue; // became exhausted meanwhile: next round dead-letters it
        out.deliveries.push({ event: toEvent(id, f), deliveryCount: (counts.get(id) ?? 1) + 1 });
      }
    }
    return out;
  }

  async readDeadLetters(limit: number): Promise<DeadLetter[]> {
    const entries = (await guard(this.r.xrange(this.k.dlq, "-", "+", "COUNT", limit))) as Entry[];
    return entries.filter(([, f]) => f).map(([, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f!.length; i += 2) m[f![i]] = f![i + 1];
      return { event: JSON.parse(m.event), group: m.group, deliveries: Number(m.deliveries), deadLetteredAt: Number(m.at) };
    });
  }

  async stats(): Promise<StoreStats> {
    await this.flushTypeCounts();
    const base: StoreStats = { stream: this.stream, length: 0, firstId: null, lastId: null, perType: {}, groups: [], deadLetters: 0, trimmed: 0 };
    let info: any[];
    try {
      info = (await guard(this.r.xinfo("STREAM", this.k.stream))) as any[];
    } catch (err) {
      if (isReplyError(err) && /no such key/i.test((err as Error).message)) return base;
      throw err;
    }
    const m = pairs(info);
    base.length = Number(m.length);
    base.firstId = m["first-entry"] ? m["first-entry"][0] : null;
    base.lastId = m["last-entry"] ? m["last-entry"][0] : null;
    base.trimmed = m["entries-added"] !== undefined ? Math.max(0, Number(m["entries-added"]) - base.length) : 0;
    const groups = (await guard(this.r.xinfo("GROUPS", this.k.stream))) as any[][];
    const filters = (await guard(this.r.hgetall(this.k.groupFilters))) as Record<string, string>;
    base.groups = groups.map((g) => {
      const gm = pairs(g);
      return { name: gm.name, consumers: Number(gm.consumers), pending: Number(gm.pending), lastDeliveredId: gm["last-delivered-id"], lag: gm.lag == null ? null : Number(gm.lag), filter: filters[gm.name] ?? null };
    });
    base.deadLetters = Number(await guard(this.r.xlen(this.k.dlq)));
    const types = (await guard(this.r.hgetall(this.k.types))) as Record<string, string>;
    for (const t in types) base.perType[t] = Number(types[t]);
    return base;
  }

  private async flushTypeCounts(): Promise<void> {
    const deltas = this.appender.takeTypeDeltas();
    if (deltas.size === 0) return;
    const multi = this.r.multi();
    for (const [t, n] of deltas) multi.hincrby(this.k.types, t, n);
    try { await guard(multi.exec()); } catch (err) {
      this.appender.putBackTypeDeltas(deltas); // retry next flush
      throw err;
    }
  }

  async trim(): Promise<number> {
    await this.flushTypeCounts();
    // MAXLEN trims on every XADD; age trimming when both limits are set runs here.
    if (this.policy.maxLen > 0 && this.policy.maxAgeMs > 0) {
      return Number(await guard(this.r.xtrim(this.k.stream, "MINID", "~", Date.now() - this.policy.maxAgeMs)));
    }
    return 0;
  }

  async destroy(): Promise<void> {
    const keys = [this.k.stream, this.k.dlq, this.k.types, this.k.groupFilters];
    const nodes: Redis[] = this.r instanceof Cluster ? this.r.nodes("master") : [this.r];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, found] = await guard(node.scan(cursor, "MATCH", `${this.k.idemPrefix.replace(/[{}]/g, "\\$&")}*`, "COUNT", 1000));
        keys.push(...found);
        cursor = next;
      } while (cursor !== "0");
    }
    for (const key of keys) await guard(this.r.del(key)); // one key per command: cluster-safe
  }

  async ping(): Promise<boolean> {
    try { return (await guard(this.r.ping())) === "PONG"; } catch { return false; }
  }

  async close(): Promise<void> { /* the factory owns the connections */ }
}

function cmp(a: string, b: string): number {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  return am !== bm ? am - bm : as - bs;
}

function pairs(list: any[]): Record<string, any> {
  const m: Record<string, any> = {};
  for (let i = 0; i + 1 < list.length; i += 2) m[String(list[i])] = list[i + 1];
  return m;
}
