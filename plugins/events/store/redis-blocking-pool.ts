/**
 * Blocking group reads (XREADGROUP BLOCK) for the Redis event store, each on a connection of its own (a
 * blocked connection cannot serve anyone else), and the wait for an ioredis connection to be ready.
 * Two pools behind one interface: Bun's native client on a single node (a subscriber's read per
 * delivered event: ioredis' command encoding and node-stream socket writes were ~30 % of the server's
 * CPU at 1,000 deliveries/s), ioredis on a Redis Cluster (or EVENTS_NATIVE_BLOCKING=0).
 */
import { RedisClient } from "bun";
import { guard, type Conn, type Entry } from "./redis-store";
import { boundedNative, nativeFailure, timedOut } from "./native-publish";
import { StoreUnavailableError } from "./types";

const CONNECT_MS = 2000;
/** A blocked read fails this long after its BLOCK time with no answer (as ioredis' blockingTimeout). */
const SLACK_MS = 1000;

export interface BlockingReader {
  /**
   * XREADGROUP GROUP group consumer COUNT count BLOCK blockMs STREAMS key ">": the entries read ([] when none
   * came). `signal` aborted: its connection is closed, which ends the wait (Redis drops a blocked client's read);
   * entries an answer already in flight carried stay in the consumer's pending list, as for any lost answer.
   * `map`: what the promise resolves with, made from the entries (no further promise for the caller's own .then).
   */
  readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]>;
  readGroup<T>(key: string, group: string, consumer: string, count: number, blockMs: number, signal: AbortSignal | undefined, map: (e: Entry[]) => T): Promise<T>;
  close(): void;
}

/** ioredis connections (a Redis Cluster routes each read to its stream's node). */
export class BlockingPool implements BlockingReader {
  private idle: Conn[] = [];
  private all = new Set<Conn>();
  constructor(private readonly make: () => Conn) {}
  private async acquire(): Promise<Conn> {
    const c = this.idle.pop();
    if (c) return c;
    const n = this.make();
    this.all.add(n);
    if (!(await whenReady(n, CONNECT_MS))) {
      this.all.delete(n);
      n.disconnect();
      throw new StoreUnavailableError("redis unavailable: connect timeout");
    }
    return n;
  }
  readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]>;
  readGroup<T>(key: string, group: string, consumer: string, count: number, blockMs: number, signal: AbortSignal | undefined, map: (e: Entry[]) => T): Promise<T>;
  readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal, map: (e: Entry[]) => unknown = same): Promise<unknown> {
    return this.read(key, group, consumer, count, blockMs, signal).then(map);
  }
  private async read(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]> {
    if (signal?.aborted) return [];
    const conn = await this.acquire();
    const off = whenAborted(signal, () => { this.all.delete(conn); conn.disconnect(); });
    try {
      const reply = (await guard(conn.xreadgroup("GROUP", group, consumer, "COUNT", count, "BLOCK", blockMs, "STREAMS", key, ">"))) as [string, Entry[]][] | null;
      return reply ? reply[0][1] : [];
    } finally { off(); if (this.all.has(conn)) this.idle.push(conn); }
  }
  close() { for (const c of this.all) c.disconnect(); this.all.clear(); this.idle = []; }
}

/**
 * Bun.RedisClient connections, one blocked read each. A connection whose read failed or timed out is
 * closed, never reused: a read given up on would still run first on it and take entries meant for the
 * next read; closing cancels it if Redis has not run it yet. Entries a lost answer carried stay in the
 * consumer's pending list (redelivered on resume or claimed after the visibility timeout).
 * Until a native connection has once succeeded, a failed connect hands the read to `fallback` (ioredis):
 * a redis_url the native client cannot use must not stop delivery (as the publish path falls back).
 * A read (one per delivered event at 1,000/s) allocates its command's promise and one reaction: the
 * connection's handlers are made once (NativeReader), the command's arguments once per subscription, and
 * reads past their time are found by one sweep timer per pool instead of a timer per read.
 */
export class NativeBlockingPool implements BlockingReader {
  private idle: NativeReader[] = [];
  private all = new Set<NativeReader>();
  private closed = false;
  private everConnected = false;
  /** Per subscription (its abort signal): the connections reading for it now, and its last command's arguments. */
  private readonly readers = new WeakMap<AbortSignal, SignalReads>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  constructor(private readonly url: string, private readonly fallback?: BlockingReader) {}

  /** A connected idle connection, without a promise (the common case: one read per delivery). */
  private idleOne(): NativeReader | undefined {
    for (let r = this.idle.pop(); r !== undefined; r = this.idle.pop()) {
      if (r.c.connected) return r;
      this.drop(r);
    }
    return undefined;
  }

  /** A new connection; null: read through the fallback. */
  private async acquire(): Promise<NativeReader | null> {
    if (this.closed) throw new StoreUnavailableError("redis unavailable: the store is closed");
    const r = new NativeReader(new RedisClient(this.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: CONNECT_MS }), this);
    this.all.add(r);
    try {
      await boundedNative(CONNECT_MS, r.c.connect());
    } catch (err) {
      this.drop(r);
      if (!this.everConnected && this.fallback !== undefined) return null;
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`redis unavailable: ${(err as Error)?.message}`, err);
    }
    this.everConnected = true;
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    return r;
  }

  /**
   * What `signal` (a subscription's) reads with: its abort closes the connections reading for it (which
   * ends their waits); one listener per signal, not a closure and a listener per read.
   */
  private readsOf(signal: AbortSignal): SignalReads {
    return this.readers.get(signal) ?? this.firstReadOf(signal);
  }

  /** Apart from readsOf: a function that makes a closure allocates its scope on every call. */
  private firstReadOf(signal: AbortSignal): SignalReads {
    const reading = new Set<NativeReader>();
    const s: SignalReads = { reading, args: null };
    this.readers.set(signal, s);
    signal.addEventListener("abort", () => { for (const r of reading) this.drop(r); reading.clear(); }, { once: true });
    return s;
  }

  drop(r: NativeReader) {
    this.all.delete(r);
    try { r.c.close(); } catch { /* already closed */ }
  }

  /** A read ended: its connection goes back to the pool when its answer came and nothing closed it. */
  released(r: NativeReader, reusable: boolean) {
    r.reads?.reading.delete(r);
    if (reusable && !this.closed && this.all.has(r)) this.idle.push(r);
    else this.drop(r);
  }

  /** Reads past their time: closing the connection fails the read (and it is never reused). */
  private sweep() {
    const now = Date.now();
    for (const r of this.all) if (r.due !== 0 && now >= r.due) { try { r.c.close(); } catch { /* already closed */ } }
  }

  readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]>;
  readGroup<T>(key: string, group: string, consumer: string, count: number, blockMs: number, signal: AbortSignal | undefined, map: (e: Entry[]) => T): Promise<T>;
  readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal, map: (e: Entry[]) => unknown = same): Promise<unknown> {
    if (signal?.aborted) return Promise.resolve(map([]));
    const r = this.idleOne();
    if (r !== undefined) return this.readOn(r, key, group, consumer, count, blockMs, signal, map);
    return this.readOnNew(key, group, consumer, count, blockMs, signal, map);
  }

  /** On a new connection (or the fallback); apart from readGroup, whose scope would otherwise be made per read for this closure. */
  private readOnNew(key: string, group: string, consumer: string, count: number, blockMs: number, signal: AbortSignal | undefined, map: (e: Entry[]) => unknown): Promise<unknown> {
    return this.acquire().then((n) => n === null
      ? this.fallback!.readGroup(key, group, consumer, count, blockMs, signal, map)
      : this.readOn(n, key, group, consumer, count, blockMs, signal, map));
  }

  private readOn(r: NativeReader, key: string, group: string, consumer: string, count: number, blockMs: number, signal: AbortSignal | undefined, map: (e: Entry[]) => unknown): Promise<unknown> {
    let args: string[];
    if (signal === undefined) args = readArgs(key, group, consumer, count, blockMs);
    else {
      const s = (r.reads = this.readsOf(signal));
      const a = s.args;
      // The same subscription reads with the same arguments every time: made once.
      args = a !== null && a[8] === key && a[1] === group && a[2] === consumer && s.count === count && s.blockMs === blockMs ? a : (s.args = readArgs(key, group, consumer, count, blockMs));
      s.count = count;
      s.blockMs = blockMs;
      if (signal.aborted) this.drop(r); // while it connected: the read fails at once, taking nothing
      else s.reading.add(r);
    }
    r.ms = blockMs + SLACK_MS;
    r.due = Date.now() + r.ms;
    r.signal = signal;
    r.map = map;
    return r.c.send("XREADGROUP", args).then(r.answered, r.failed);
  }

  close() {
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.fallback?.close();
    for (const r of this.all) { try { r.c.close(); } catch { /* already closed */ } }
    this.all.clear();
    this.idle = [];
  }
}

interface SignalReads { reading: Set<NativeReader>; args: string[] | null; count?: number; blockMs?: number }

/** How often a pool looks for reads past their time (a late read fails between its time and this much after). */
const SWEEP_MS = 100;

/** One pooled connection and the read it is doing, with its answer's handlers made once. */
class NativeReader {
  /** When the read under way is past its time (0: idle). */
  due = 0;
  ms = 0;
  signal: AbortSignal | undefined = undefined;
  reads: SignalReads | undefined = undefined;
  map: (e: Entry[]) => unknown = same;
  constructor(readonly c: RedisClient, private readonly pool: NativeBlockingPool) {}

  readonly answered = (reply: unknown): unknown => {
    const map = this.end(true);
    return map(entriesOf(reply));
  };

  readonly failed = (err: unknown): never => {
    const late = Date.now() >= this.due && !this.signal?.aborted;
    const ms = this.ms;
    this.end(false);
    throw late ? timedOut(ms) : nativeFailure(err as Error);
  };

  private end(reusable: boolean): (e: Entry[]) => unknown {
    const map = this.map;
    this.due = 0;
    this.signal = undefined;
    this.map = same;
    this.pool.released(this, reusable);
    this.reads = undefined;
    return map;
  }
}

const same = (e: Entry[]): Entry[] => e;

function readArgs(key: string, group: string, consumer: string, count: number, blockMs: number): string[] {
  return ["GROUP", group, consumer, "COUNT", String(count), "BLOCK", String(blockMs), "STREAMS", key, ">"];
}

const noop = () => {};
/** Call `giveUp` if `signal` aborts; returns the listener's removal. */
function whenAborted(signal: AbortSignal | undefined, giveUp: () => void): () => void {
  if (signal === undefined) return noop;
  if (signal.aborted) { giveUp(); return noop; }
  signal.addEventListener("abort", giveUp, { once: true });
  return () => signal.removeEventListener("abort", giveUp);
}

/** One stream's entries from an XREADGROUP reply: RESP3 answers a map { key: entries }, RESP2 [[key, entries]]. */
function entriesOf(reply: unknown): Entry[] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) return (reply[0]?.[1] ?? []) as Entry[];
  for (const k in reply as Record<string, Entry[]>) return (reply as Record<string, Entry[]>)[k] ?? [];
  return [];
}

/** Resolves true once the connection is ready, false after timeoutMs. */
export function whenReady(c: Conn, timeoutMs: number): Promise<boolean> {
  if (c.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => { clearTimeout(timer); resolve(true); };
    const timer = setTimeout(() => { c.off("ready", onReady); resolve(false); }, timeoutMs);
    c.once("ready", onReady);
  });
}
