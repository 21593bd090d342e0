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
   */
  readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]>;
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
  async readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]> {
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
 */
export class NativeBlockingPool implements BlockingReader {
  private idle: RedisClient[] = [];
  private all = new Set<RedisClient>();
  private closed = false;
  private everConnected = false;
  private readonly readers = new WeakMap<AbortSignal, Set<RedisClient>>();
  constructor(private readonly url: string, private readonly fallback?: BlockingReader) {}

  /** A connected idle connection, without a promise (the common case: one read per delivery). */
  private idleOne(): RedisClient | undefined {
    for (let c = this.idle.pop(); c !== undefined; c = this.idle.pop()) {
      if (c.connected) return c;
      this.drop(c);
    }
    return undefined;
  }

  /** A new connection; null: read through the fallback. */
  private async acquire(): Promise<RedisClient | null> {
    if (this.closed) throw new StoreUnavailableError("redis unavailable: the store is closed");
    const n = new RedisClient(this.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: CONNECT_MS });
    this.all.add(n);
    try {
      await boundedNative(CONNECT_MS, n.connect());
    } catch (err) {
      this.drop(n);
      if (!this.everConnected && this.fallback !== undefined) return null;
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`redis unavailable: ${(err as Error)?.message}`, err);
    }
    this.everConnected = true;
    return n;
  }

  /**
   * The connections reading for `signal` now; its abort closes them (which ends their waits). One listener
   * per signal (a subscription's), not a closure and a listener per read.
   */
  private readingOn(signal: AbortSignal | undefined): Set<RedisClient> | undefined {
    if (signal === undefined) return undefined;
    let set = this.readers.get(signal);
    if (set === undefined) {
      const s = (set = new Set());
      this.readers.set(signal, s);
      signal.addEventListener("abort", () => { for (const c of s) this.drop(c); s.clear(); }, { once: true });
    }
    return set;
  }

  private drop(c: RedisClient) {
    this.all.delete(c);
    try { c.close(); } catch { /* already closed */ }
  }

  async readGroup(key: string, group: string, consumer: string, count: number, blockMs: number, signal?: AbortSignal): Promise<Entry[]> {
    if (signal?.aborted) return [];
    const c = this.idleOne() ?? await this.acquire();
    if (c === null) return this.fallback!.readGroup(key, group, consumer, count, blockMs, signal);
    let reusable = false;
    const reading = this.readingOn(signal);
    if (signal?.aborted) this.drop(c); // while it connected: the read fails at once, taking nothing
    else reading?.add(c);
    // Bounded by closing the connection (the read fails at once, Redis drops it), not by a wrapping promise
    // with a timer and reactions per read (boundedNative: ~590 B per delivery at 1,000/s, measured).
    const ms = blockMs + SLACK_MS;
    const due = Date.now() + ms;
    const timer = setTimeout(closeLate, ms, c);
    try {
      const reply = await c.send("XREADGROUP", ["GROUP", group, consumer, "COUNT", String(count), "BLOCK", String(blockMs), "STREAMS", key, ">"]);
      reusable = true;
      return entriesOf(reply);
    } catch (err) {
      throw Date.now() >= due && !signal?.aborted ? timedOut(ms) : nativeFailure(err as Error);
    } finally {
      clearTimeout(timer);
      reading?.delete(c);
      if (reusable && !this.closed && this.all.has(c)) this.idle.push(c);
      else this.drop(c);
    }
  }

  close() {
    this.closed = true;
    this.fallback?.close();
    for (const c of this.all) { try { c.close(); } catch { /* already closed */ } }
    this.all.clear();
    this.idle = [];
  }
}

/** A blocked read past its time: closing its connection fails it (and it is never reused). */
function closeLate(c: RedisClient): void {
  try { c.close(); } catch { /* already closed */ }
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
