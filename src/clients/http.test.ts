/** The clients' request deadlines (http.ts deadlineSignal): shared per step, on time, TimeoutError, only for requests still waiting. */
import { afterAll, expect, test } from "bun:test";
import { deadlineSignal, request, requestJson, ServiceError } from "./http";

// A real server: /slow never answers within the test's timeouts, /fast at once, /coded and /plain-error refuse.
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/slow") await Bun.sleep(2000);
    if (path === "/coded") return Response.json({ error: { code: "X_ERR_CODED", message: "refused", where: "body", details: { n: 1 } } }, { status: 409 });
    if (path === "/plain-error") return new Response("not json", { status: 502 });
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

test("a body that cannot be serialised rejects (never throws synchronously); a refusal keeps its coded body, or its status", async () => {
  const big = { n: 1n } as unknown;
  let sync = false;
  let p: Promise<unknown> | undefined;
  try { p = request(`${base}/fast`, { method: "POST", body: big }); } catch { sync = true; }
  expect(sync).toBe(false);
  expect(await p!.catch((e) => e)).toBeInstanceOf(TypeError);
  const coded = await request(`${base}/coded`, { method: "POST", body: {} }).catch((e) => e);
  expect(coded).toBeInstanceOf(ServiceError);
  expect([coded.status, coded.code, coded.message, coded.where, coded.details, coded.retryable]).toEqual([409, "X_ERR_CODED", "refused", "body", { n: 1 }, false]);
  const plain = (await requestJson(`${base}/plain-error`).catch((e) => e)) as ServiceError;
  expect([plain.status, plain.code, plain.retryable]).toEqual([502, "HTTP_502", true]);
});
