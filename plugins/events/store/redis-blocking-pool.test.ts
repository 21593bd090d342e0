/**
 * The native blocking-read pool on a private redis-server (tests that kill connections and pause the
 * server must not touch the shared one): a read whose connection dies or whose answer is late fails as
 * an outage and its connection is closed, never reused: a read given up on would still run first on it
 * and take entries meant for the next read.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { startPrivateRedis, type PrivateRedis } from "../../../test/support/harness";
import { NativeBlockingPool } from "./redis-blocking-pool";
import { StoreUnavailableError } from "./types";

let redis: PrivateRedis;
let admin: Redis;
beforeAll(async () => {
  redis = await startPrivateRedis({ appendonly: false });
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});

/** The id of the connection blocked in XREADGROUP, once there is one (a new connection: connecting takes a while on a loaded machine). */
async function blockedReader(ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = ((await admin.client("LIST")) as string).split("\n").find((l) => l.includes("cmd=xreadgroup") && /\bflags=b\b/.test(l));
    if (line) return /\bid=(\d+)/.exec(line)![1];
    if (Date.now() > deadline) throw new Error(`no connection blocked in XREADGROUP after ${ms} ms`);
    await Bun.sleep(20);
  }
}

async function freshStream(name: string): Promise<string> {
  await admin.xgroup("CREATE", name, "g", "$", "MKSTREAM");
  return name;
}

test("reads block until an append, return the entries, and reuse the connection", async () => {
  const key = await freshStream("pool-basic");
  const pool = new NativeBlockingPool(redis.url);
  try {
    const pending = pool.readGroup(key, "g", "c", 10, 2000);
    await Bun.sleep(50);
    const id = await admin.xadd(key, "*", "a", "1");
    expect(await pending).toEqual([[id!, ["a", "1"]]]);
    expect(await pool.readGroup(key, "g", "c", 10, 50)).toEqual([]);
    const readers = ((await admin.client("LIST")) as string).split("\n").filter((l) => l.includes("cmd=xreadgroup"));
    expect(readers.length).toBe(1); // both reads on one connection
  } finally { pool.close(); }
});

test("a connection killed mid-read fails the read as an outage; the next read gets a new connection", async () => {
  const key = await freshStream("pool-killed");
  const pool = new NativeBlockingPool(redis.url);
  try {
    // Its failure is taken at once: it may come before the KILL's own answer, and a rejection nobody handles
    // by then fails the test run whatever the assertions below say.
    const blocked = pool.readGroup(key, "g", "c", 10, 5000).then(() => null, (e) => e);
    await admin.client("KILL", "ID", await blockedReader());
    const t0 = Date.now();
    const err = await blocked;
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - t0).toBeLessThan(1000);
    const id = await admin.xadd(key, "*", "b", "2");
    expect(await pool.readGroup(key, "g", "c", 10, 1000)).toEqual([[id!, ["b", "2"]]]);
  } finally { pool.close(); }
});

test("a read given up on is cancelled: it cannot take an entry meant for the next read", async () => {
  const key = await freshStream("pool-late");
  const pool = new NativeBlockingPool(redis.url);
  try {
    await pool.readGroup(key, "g", "c", 10, 10); // a pooled connection exists
    await admin.client("PAUSE", 2000, "ALL");
    // BLOCK 100 + 1 s of slack: given up on while the server is paused, its command not yet run.
    const t0 = Date.now();
    const err = await pool.readGroup(key, "g", "c", 10, 100).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    // Failed at its deadline (its connection closed), not when the pause ends.
    expect(err.message).toBe("redis unavailable: command timed out after 1100 ms");
    expect(Date.now() - t0).toBeLessThan(1800);
    // Both wait for the pause to end. Had the connection been kept, the abandoned read would run first on
    // it and take the entry (pending, delivered to nobody) and this read would find nothing.
    const added = admin.xadd(key, "*", "c", "3");
    const next = pool.readGroup(key, "g", "c", 10, 1500);
    const id = await added;
    expect(await next).toEqual([[id!, ["c", "3"]]]);
  } finally { pool.close(); }
}, 10_000);

test("a native client that never connected hands reads to the fallback; once it has, an outage fails as one", async () => {
  const calls: string[] = [];
  const fallback = { readGroup: async (key: string) => { calls.push(key); return []; }, close() {} };
  const dead = new NativeBlockingPool("redis://127.0.0.1:1", fallback);
  try {
    expect(await dead.readGroup("k", "g", "c", 10, 10)).toEqual([]);
    expect(calls).toEqual(["k"]);
  } finally { dead.close(); }
  const key = await freshStream("pool-fallback");
  const pool = new NativeBlockingPool(redis.url, fallback);
  try {
    await pool.readGroup(key, "g", "c", 10, 10);
    await redis.stop();
    const err = await pool.readGroup(key, "g", "c", 10, 10).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(calls).toEqual(["k"]); // not handed over: the native client works with this URL
  } finally {
    pool.close();
    await redis.start();
  }
}, 10_000);

test("a subscription's abort ends whichever of its reads is blocked then (one listener per signal, not per read)", async () => {
  const key = await freshStream("pool-abort");
  const pool = new NativeBlockingPool(redis.url);
  const ac = new AbortController();
  try {
    expect(await pool.readGroup(key, "g", "c", 10, 10, ac.signal)).toEqual([]); // an earlier read with the signal
    const blocked = pool.readGroup(key, "g", "c", 10, 5000, ac.signal);
    await Bun.sleep(100);
    const t0 = Date.now();
    ac.abort();
    const err = await blocked.then(() => null, (e) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await pool.readGroup(key, "g", "c", 10, 10, ac.signal)).toEqual([]); // aborted: nothing read
    // The abandoned read's connection is closed: an entry appended now goes to the next reader.
    const id = await admin.xadd(key, "*", "d", "4");
    expect(await pool.readGroup(key, "g", "c2", 10, 1000)).toEqual([[id!, ["d", "4"]]]);
  } finally { pool.close(); }
});
