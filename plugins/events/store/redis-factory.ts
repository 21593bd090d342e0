/**
 * The Redis event store's factory (selected when host.redis_url is set): the command connection (one node
 * or a Redis Cluster), the pool of blocking connections, Bun's native client for the hot publish call,
 * and one RedisEventStore per stream.
 */
import Redis, { Cluster } from "../../../src/lib/redis";
import { PUBLISH_LUA, PUBLISH_KEYED_LUA } from "./redis-keys";
import { NativePublisher } from "./native-publish";
import { BlockingPool, NativeBlockingPool, whenReady, type BlockingReader } from "./redis-blocking-pool";
import { RedisEventStore, guard, type Conn } from "./redis-store";
import type { StoreFactory, TrimPolicy } from "./types";

export interface RedisStoreOptions {
  url: string;
  /** redis_url names one node of a Redis Cluster (slots discovered from it). */
  cluster?: boolean;
  trim: TrimPolicy;
  commandTimeoutMs: number;
}

/** Connects (waiting up to connectTimeoutMs; a Redis that is down then only makes requests 503) and returns the factory. */
export async function createRedisFactory(opts: RedisStoreOptions & { connectTimeoutMs?: number }): Promise<StoreFactory> {
  const common = {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    lazyConnect: false,
  };
  const connect = (extra: Record<string, unknown>, name: string): Conn => {
    if (!opts.cluster) return new Redis(opts.url, { ...common, ...extra, connectionName: name });
    const u = new URL(opts.url);
    return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
      enableOfflineQueue: false,
      enableAutoPipelining: extra.enableAutoPipelining === true,
      clusterRetryStrategy: common.retryStrategy,
      redisOptions: { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, connectionName: name, ...(u.password ? { password: decodeURIComponent(u.password) } : {}), ...(extra.commandTimeout ? { commandTimeout: extra.commandTimeout as number } : {}), ...(extra.blockingTimeout ? { blockingTimeout: extra.blockingTimeout as number } : {}) },
    });
  };
  // No ioredis auto-pipelining: the publish path already coalesces each event-loop turn into one script
  // call (what auto-pipelining would batch), and measured no faster with it on top.
  const main = connect({ commandTimeout: opts.commandTimeoutMs }, "tradpal-events");
  main.defineCommand("tradpalPublish", { lua: PUBLISH_LUA });
  main.defineCommand("tradpalPublishKeyed", { lua: PUBLISH_KEYED_LUA });
  main.on("error", () => { /* reported through ping()/503s; avoid unhandled error events */ });
  // Subscribers' blocking reads through Bun's native client on a single node (redis-blocking-pool.ts).
  const viaIoredis = new BlockingPool(() => {
    const c = connect({ blockingTimeout: 1000 }, "tradpal-events-sub");
    c.on("error", () => {});
    return c;
  });
  const blocking: BlockingReader = !opts.cluster && process.env.EVENTS_NATIVE_BLOCKING !== "0" ? new NativeBlockingPool(opts.url, viaIoredis) : viaIoredis;
  // The hot publish call goes through Bun's native client on a single node (native-publish.ts).
  const native = opts.cluster || process.env.EVENTS_NATIVE_PUBLISH === "0" ? undefined : new NativePublisher(opts.url, PUBLISH_LUA, opts.commandTimeoutMs);
  const stores = new Map<string, RedisEventStore>();
  await whenReady(main, opts.connectTimeoutMs ?? 3000);
  return {
    kind: "redis",
    open(stream) {
      let s = stores.get(stream);
      if (!s) stores.set(stream, (s = new RedisEventStore(main, blocking, stream, opts.trim, native)));
      return s;
    },
    async ping() {
      try { return (await guard(main.ping())) === "PONG"; } catch { return false; }
    },
    async close() {
      blocking.close();
      native?.close();
      main.disconnect();
    },
  };
}
