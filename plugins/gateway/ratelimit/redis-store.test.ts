/**
 * The store's batching on the shared Redis: how many script calls a set of decisions costs, counted on
 * the real ioredis client (its sendCommand, through which every command goes), and what each gets.
 */
import { afterAll, expect, test } from "bun:test";
import Redis from "../../../src/lib/redis";
import { RedisRateStore } from "./redis-store";
import { makePolicy, type GcraPolicy, type RateDecision } from "./gcra";
import { SHARED_REDIS_URL } from "../../../test/support/harness";
import { uniquePrefix } from "../test/support";

const client = new Redis(SHARED_REDIS_URL, { enableAutoPipelining: false, maxRetriesPerRequest: 0 });
afterAll(() => client.disconnect());

let scriptCalls = 0;
const send = client.sendCommand.bind(client);
client.sendCommand = ((command: { name: string }) => {
  if (command.name === "evalsha" || command.name === "eval") scriptCalls++;
  return send(command as never);
}) as typeof client.sendCommand;

const noFallback = (err: unknown): RateDecision => { throw err; };
/** A decision as it comes (the identity map). */
const ask = (store: RedisRateStore, p: GcraPolicy, key: string) => store.decide(p, key, (d: RateDecision) => d, undefined, undefined);

test("the decisions asked in one turn go in one script call, each answered by its own key's count", async () => {
  const store = new RedisRateStore(client, uniquePrefix(), noFallback);
  const p = makePolicy("turn", { limit: 2, periodMs: 60_000 });
  await ask(store, p, "warm"); // the script loaded (EVALSHA → NOSCRIPT → EVAL the first time)
  await Bun.sleep(5); // the store idle again (its call's finally has run)
  scriptCalls = 0;
  const asks = Array.from({ length: 60 }, (_, i) => ask(store, p, `k${i % 20}`)); // 20 keys, 3 each
  const ds = await Promise.all(asks);
  expect(scriptCalls).toBe(1);
  for (let k = 0; k < 20; k++) {
    const mine = ds.filter((_, i) => i % 20 === k);
    expect(mine.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(mine.map((d) => d.remaining)).toEqual([1, 0, 0]);
    expect(mine[2].retryAfterMs).toBeGreaterThan(29_000);
  }
});

test("decisions asked while a call is in flight go together in the next one", async () => {
  const store = new RedisRateStore(client, uniquePrefix(), noFallback);
  const p = makePolicy("wave", { limit: 1000, periodMs: 60_000 });
  await ask(store, p, "warm");
  await Bun.sleep(5);
  scriptCalls = 0;
  const first = ask(store, p, "a");
  await Promise.resolve(); // the first call has left
  const later = Array.from({ length: 30 }, (_, i) => ask(store, p, `b${i}`));
  await Promise.all([first, ...later]);
  expect(scriptCalls).toBe(2);
});

test("a failed call's decisions are made by the fallback; a fallback that throws rejects them", async () => {
  const broken = new Redis("redis://127.0.0.1:1", { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const made: string[] = [];
  const store = new RedisRateStore(broken, uniquePrefix(), (_err, p, key) => {
    made.push(key);
    if (key === "bad") throw new Error("no fallback for this one");
    return { allowed: true, remaining: p.limit - 1, resetMs: 0, retryAfterMs: 0, fallback: true };
  });
  const p = makePolicy("down", { limit: 5, periodMs: 1000 });
  const ok = ask(store, p, "good");
  const bad = ask(store, p, "bad");
  expect((await ok).fallback).toBe(true);
  await expect(bad).rejects.toThrow("no fallback for this one");
  expect(made.sort()).toEqual(["bad", "good"]);
  broken.disconnect();
});
