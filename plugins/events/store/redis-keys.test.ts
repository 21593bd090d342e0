/**
 * The Redis key scheme is Redis Cluster safe: every key of one stream hashes to the slot of the stream
 * key itself, checked with CLUSTER KEYSLOT on a real cluster-enabled redis-server (the shared Redis has
 * cluster support disabled). Also: the main key is exactly the stream name.
 */
import { test, expect, beforeAll, afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { freePort, tempDir } from "../../../test/support/harness";
import { keysFor } from "./redis-keys";
import { replayStreamName } from "../replay";

let proc: ReturnType<typeof Bun.spawn>;
let r: Redis;
const dir = tempDir("tradpal-cluster-slot-");

beforeAll(async () => {
  const port = freePort();
  proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--dir", dir, "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
  r = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: (n) => (n > 40 ? null : 50) });
  r.on("error", () => { /* connect attempts before the server listens */ });
  for (let i = 0; i < 40; i++) { try { await r.connect(); break; } catch { await Bun.sleep(50); } }
});
afterAll(async () => {
  r.disconnect();
  proc.kill();
  await proc.exited;
  rmSync(dir, { recursive: true, force: true });
});

test("every derived key of a stream lives in the stream key's slot", async () => {
  for (const stream of ["tradpal_events", "orders-v2", replayStreamName("tradpal_events", "bt1")]) {
    const k = keysFor(stream);
    expect(k.stream).toBe(stream);
    const slot = await r.cluster("KEYSLOT", k.stream);
    for (const key of [k.dlq, k.types, `${k.idemPrefix}k:abc`, `${k.idemPrefix}e:some-event-id`]) {
      expect([key, await r.cluster("KEYSLOT", key)]).toEqual([key, slot]);
    }
  }
  // different streams spread over slots (the point of hashing per stream)
  expect(await r.cluster("KEYSLOT", "tradpal_events")).not.toBe(await r.cluster("KEYSLOT", "orders-v2"));
});

test("stream names that would break the hash-tag rule are refused", () => {
  expect(() => keysFor("{tradpal_events}")).toThrow();
  expect(() => keysFor("a b")).toThrow();
  expect(() => keysFor("")).toThrow();
});
