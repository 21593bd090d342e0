/**
 * The native (Bun.RedisClient) publish call against a private redis-server: it stores through the real
 * publish script, survives an emptied script cache (EVALSHA → EVAL), turns an outage into a fast
 * StoreUnavailableError, lets script errors through as errors (not outages), and is ready again after
 * Redis comes back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { startPrivateRedis, type PrivateRedis } from "../../../test/support/harness";
import { NativePublisher } from "./native-publish";
import { PUBLISH_LUA, EVENT_FIELDS } from "./redis-keys";
import { StoreUnavailableError } from "./types";

let redis: PrivateRedis;
let pub: NativePublisher;
const stream = `native_pub_${process.pid}`;
const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/** An event's values in EVENT_FIELDS order; the last (tp) empty unless the id ends in "t". */
const values = (id: string) => [id, "custom.test", "src", "2026-01-01T00:00:00.000Z", id, "1", '{"a":1}', id.endsWith("t") ? TP : ""];
const argv = (...ids: string[]) => ["0", "0", "0", "MAXLEN", "1000", String(EVENT_FIELDS.length), "", ...ids.flatMap(values)];
/** Without trace context: one value fewer per event (no tp at all). */
const untraced = (...ids: string[]) => ["0", "0", "0", "MAXLEN", "1000", String(EVENT_FIELDS.length - 1), "", ...ids.flatMap((id) => values(id).slice(0, -1))];

async function waitReady(p: NativePublisher, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!p.isReady() && Date.now() < deadline) await Bun.sleep(20);
  return p.isReady();
}

beforeAll(async () => {
  redis = await startPrivateRedis({ appendonly: false });
  pub = new NativePublisher(redis.url, PUBLISH_LUA, 1000);
  expect(await waitReady(pub)).toBe(true);
});
afterAll(async () => {
  pub?.close();
  await redis?.stop();
});

test("stores the events with the field names added by the script; an empty trace context is left out", async () => {
  const [dup, joined] = await pub.run([stream, `{${stream}}:idem:none`], argv("e1", "e2t"));
  expect(dup).toBe(0);
  const ids = joined.split(",");
  expect(ids).toHaveLength(2);
  const r = new Redis(redis.url);
  const entries = (await r.xrange(stream, "-", "+")) as [string, string[]][];
  r.disconnect();
  expect(entries.map(([id]) => id)).toEqual(ids);
  expect(entries[0][1]).toEqual(["id", "e1", "type", "custom.test", "source", "src", "time", "2026-01-01T00:00:00.000Z", "cid", "e1", "v", "1", "payload", '{"a":1}']);
  expect(entries[1][1]).toEqual(["id", "e2t", "type", "custom.test", "source", "src", "time", "2026-01-01T00:00:00.000Z", "cid", "e2t", "v", "1", "payload", '{"a":1}', "tp", TP]);
  const [, one] = await pub.run([stream, `{${stream}}:idem:none`], untraced("e0"));
  const r2 = new Redis(redis.url);
  const [[, fields]] = (await r2.xrange(stream, one, one)) as [string, string[]][];
  r2.disconnect();
  expect(fields).toEqual(["id", "e0", "type", "custom.test", "source", "src", "time", "2026-01-01T00:00:00.000Z", "cid", "e0", "v", "1", "payload", '{"a":1}']);
});

test("an emptied script cache (Redis restart, SCRIPT FLUSH) falls back to EVAL once", async () => {
  const r = new Redis(redis.url);
  await r.script("FLUSH"); // private redis-server: nobody else's scripts
  const [, joined] = await pub.run([stream, `{${stream}}:idem:none`], argv("e3"));
  expect(joined).toMatch(/^\d+-\d+$/);
  expect(Number(await r.xlen(stream))).toBe(4);
  r.disconnect();
});

test("a script error is passed through, not reported as an outage", async () => {
  // One value more than there are field names: the script's XADD gets an odd field list → ERR from Redis
  const bad = ["0", "0", "0", "", "", String(EVENT_FIELDS.length + 1), "", ...values("x"), "extra"];
  const err = await pub.run([stream, `{${stream}}:idem:none`], bad).catch((e) => e);
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(StoreUnavailableError);
});

test("a command that never answers fails as an outage at its timeout; the client keeps working after", async () => {
  const quick = new NativePublisher(redis.url, PUBLISH_LUA, 300);
  const admin = new Redis(redis.url);
  try {
    expect(await waitReady(quick)).toBe(true);
    await quick.run([stream, `{${stream}}:idem:none`], argv("e6w")); // the script is cached: the late answer is a reply
    await admin.client("PAUSE", 2000, "ALL");
    const t0 = Date.now();
    const err = await quick.run([stream, `{${stream}}:idem:none`], argv("e6")).then(() => null, (e) => e);
    // Failed at its own time, not when the pause ended.
    expect(Date.now() - t0).toBeLessThan(1800);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toBe("redis unavailable: command timed out after 300 ms");
    await admin.ping(); // answered when the pause ends
    const [dup] = await quick.run([stream, `{${stream}}:idem:none`], argv("e7"));
    expect(dup).toBe(0);
  } finally {
    quick.close();
    admin.disconnect();
  }
}, 10_000);

test("Redis down → StoreUnavailableError at once; ready again after Redis is back", async () => {
  await redis.stop();
  const started = performance.now();
  const err = await pub.run([stream, `{${stream}}:idem:none`], argv("e4")).catch((e) => e);
  expect(err).toBeInstanceOf(StoreUnavailableError);
  expect(performance.now() - started).toBeLessThan(1500); // bounded by the 1 s command timeout at worst
  expect(pub.isReady()).toBe(false);
  await redis.start();
  expect(await waitReady(pub, 8000)).toBe(true);
  const [dup] = await pub.run([stream, `{${stream}}:idem:none`], argv("e5"));
  expect(dup).toBe(0);
}, 20_000);
