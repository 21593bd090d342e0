/** The clients' request deadlines (http.ts deadlineSignal): shared per step, on time, TimeoutError, only for requests still waiting. */
import { afterAll, expect, test } from "bun:test";
import { deadlineSignal, request, requestJson, ServiceError } from "./http";

// A real server: /slow never answers within the test's timeouts, /fast at once.
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    if (new URL(req.url).pathname === "/slow") await Bun.sleep(2000);
    return Response.json({ ok: true });
  },
});
afterAll(() => server.stop(true));
const base = `http://127.0.0.1:${server.port}`;

test("deadlines of one step share one signal; it aborts with a TimeoutError once the time has passed, not before", async () => {
  let t0 = 0, a: AbortSignal, b: AbortSignal;
  // Two calls in one millisecond share a step (retried in the rare case the clock ticked over a step boundary between them).
  do { t0 = Date.now(); a = deadlineSignal(120); b = deadlineSignal(120); } while (Date.now() !== t0);
  expect(b).toBe(a);
  expect(deadlineSignal(5000)).not.toBe(a);
  await Bun.sleep(100);
  expect(a.aborted).toBe(false);
  while (!a.aborted && Date.now() - t0 < 1000) await Bun.sleep(5);
  const took = Date.now() - t0;
  expect(took).toBeGreaterThanOrEqual(118);
  expect(took).toBeLessThan(120 + 25 + 100); // the step, plus scheduling slack on a shared machine
  expect((a.reason as DOMException).name).toBe("TimeoutError");
});

test("a request that gets no answer in time is a retryable ServiceError (status 0); requests that finished are unaffected", async () => {
  const fast = await Promise.all(Array.from({ length: 20 }, () => requestJson<{ ok: boolean }>(`${base}/fast`, { timeoutMs: 300 })));
  expect(fast.every((r) => r.ok)).toBe(true);
  const t0 = Date.now();
  const slow = await request(`${base}/slow`, { timeoutMs: 300 }).catch((e) => e);
  const took = Date.now() - t0;
  expect(slow).toBeInstanceOf(ServiceError);
  expect((slow as ServiceError).status).toBe(0);
  expect((slow as ServiceError).retryable).toBe(true);
  expect(took).toBeGreaterThanOrEqual(295);
  expect(took).toBeLessThan(1500);
  // The signal the fast ones shared has aborted by now; their answers were already read.
  expect(fast.length).toBe(20);
});
