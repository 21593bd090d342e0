/**
 * The TracingChannel gap closed by redis.ts: ioredis skips its per-command trace when nothing listens,
 * and still traces for a subscriber. Against the shared Redis (PING only).
 */
import { test, expect } from "bun:test";
import dc from "node:diagnostics_channel";
import { Redis } from "./redis";
// ioredis' own tracing hook (what every command goes through).
import { traceCommand } from "ioredis/built/tracing";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

test("with no subscriber a command is not traced (no trace context is made)", async () => {
  expect(dc.tracingChannel("ioredis:command").hasSubscribers).toBe(false);
  const made: string[] = [];
  const r = await traceCommand(() => Promise.resolve("ran"), () => { made.push("context"); return { command: "ping", args: [], database: 0, serverAddress: "", serverPort: 0 }; });
  expect(r).toBe("ran");
  expect(made).toEqual([]);
});

test("a subscriber sees every command, and none once it leaves", async () => {
  const seen: string[] = [];
  const handlers = { start: (m: unknown) => { seen.push((m as { command: string }).command); }, end() {}, asyncStart() {}, asyncEnd() {}, error() {} };
  const channel = dc.tracingChannel("ioredis:command");
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    channel.subscribe(handlers);
    expect(channel.hasSubscribers).toBe(true);
    expect(await redis.ping()).toBe("PONG");
    expect(seen).toContain("ping");
    channel.unsubscribe(handlers);
    expect(channel.hasSubscribers).toBe(false);
    seen.length = 0;
    await redis.ping();
    expect(seen).toEqual([]);
  } finally {
    channel.unsubscribe(handlers);
    redis.disconnect();
  }
});
