/** An output lane against a real loopback server: bounded queue (oldest dropped, counted), a 4xx drops, min priority filters. */
import { test, expect, afterAll } from "bun:test";
import { OutputLane } from "./queue";
import { createLogger } from "../../../src/core/log";
import type { Notice } from "../notice";

let status = 503;
const got: any[] = [];
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(req) { const b = await req.json(); if (status === 200) got.push(b); return new Response("", { status }); } });
afterAll(() => server.stop(true));

const notice = (i: number, priority: Notice["priority"] = "warning"): Notice => ({ group: `g${i}`, kind: "new", sequence: 1, rule: `r${i}`, priority, count: 1, first_seen: "", last_seen: "", output: "", fields: {}, tags: [], source: "syscall", uuid: `u${i}`, time: "2026-01-01T00:00:00Z" });
const log = createLogger({ level: "error", sink: () => {} });

test("full queue drops the oldest and counts it; below minimum priority is not queued; delivery resumes in order", async () => {
  const ac = new AbortController();
  const lane = new OutputLane({ name: "t", type: "webhook", url: `http://127.0.0.1:${server.port}/`, minimumPriority: "warning", headers: {}, timeoutMs: 1000, maxQueue: 3, batch: 1, retryBaseMs: 5, retryMaxMs: 20, expiresAfterMs: 0 }, log, ac.signal);
  expect(lane.offer(notice(0, "notice"))).toBe(false);
  for (let i = 1; i <= 5; i++) lane.offer(notice(i));
  await Bun.sleep(50);
  expect(lane.stats()).toMatchObject({ queued: 3, dropped_overflow: 2, up: false });
  status = 200;
  const end = Date.now() + 3000;
  while (lane.stats().queued > 0 && Date.now() < end) await Bun.sleep(10);
  expect(got.map((b) => b.rule)).toEqual(["r3", "r4", "r5"]);
  status = 400;
  lane.offer(notice(6));
  await Bun.sleep(100);
  expect(lane.stats()).toMatchObject({ queued: 0, dropped_refused: 1, sent: 3 });
  ac.abort();
});
