/** The shared resilience toolkit (src/lib/resilience.ts): backoff, retry, timeout, bulkhead, fallback. */
import { describe, expect, test } from "bun:test";
import { Bulkhead, BulkheadRejectedError, compileFallback, fullJitterBackoff, retry, TimeoutError, withFallback, withTimeout } from "./resilience";

describe("fullJitterBackoff", () => {
  test("uniform in [0, min(cap, base·2^attempt))", () => {
    expect(fullJitterBackoff(0, 100, 1000, () => 0.999)).toBe(99);
    expect(fullJitterBackoff(3, 100, 1000, () => 0.5)).toBe(400);
    expect(fullJitterBackoff(10, 100, 1000, () => 0.999)).toBe(999); // capped
    expect(fullJitterBackoff(-1, 100, 1000, () => 0.5)).toBe(50);
    expect(fullJitterBackoff(2, 100, 1000, () => 0)).toBe(0);
  });
});

describe("retry", () => {
  test("retries until success with growing jittered delays", async () => {
    const delays: number[] = [];
    let calls = 0;
    const v = await retry(async (attempt) => { calls++; if (attempt < 3) throw new Error("flaky"); return "ok"; },
      { attempts: 5, baseMs: 10, capMs: 1000, random: () => 0.5, sleep: async (ms) => { delays.push(ms); } });
    expect(v).toBe("ok");
    expect(calls).toBe(4);
    expect(delays).toEqual([5, 10, 20]);
  });
  test("gives up after `attempts` with the last error", async () => {
    let calls = 0;
    const err = await retry(async (a) => { calls++; throw new Error(`fail ${a}`); }, { attempts: 3, baseMs: 1, capMs: 1, sleep: async () => {} }).catch((e) => e);
    expect(err.message).toBe("fail 2");
    expect(calls).toBe(3);
  });
  test("retryOn false stops at once", async () => {
    let calls = 0;
    await expect(retry(async () => { calls++; throw new Error("4xx"); }, { attempts: 5, baseMs: 1, capMs: 1, retryOn: () => false, sleep: async () => {} })).rejects.toThrow("4xx");
    expect(calls).toBe(1);
  });
  test("an abort during the backoff wait stops retrying", async () => {
    const ctrl = new AbortController();
    const p = retry(async () => { throw new Error("down"); }, { attempts: 10, baseMs: 10_000, capMs: 10_000, random: () => 0.9, signal: ctrl.signal });
    setTimeout(() => ctrl.abort(new Error("shutting down")), 20);
    const t0 = Date.now();
    await expect(p).rejects.toThrow("shutting down");
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe("withTimeout", () => {
  test("rejects with TimeoutError and aborts the work's signal", async () => {
    let aborted = false;
    const err = await withTimeout((signal) => new Promise((_, reject) => { signal.addEventListener("abort", () => { aborted = true; reject(signal.reason); }); }), 30).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(aborted).toBe(true);
  });
  test("passes the value through when in time", async () => {
    expect(await withTimeout(async () => 42, 1000)).toBe(42);
  });
  test("a real slow upstream is cut off by fetch's signal", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async () => { await Bun.sleep(2000); return new Response("late"); } });
    try {
      const t0 = Date.now();
      await expect(withTimeout((signal) => fetch(`http://127.0.0.1:${server.port}/`, { signal }), 100)).rejects.toBeInstanceOf(TimeoutError);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally { server.stop(true); }
  });
  test("an already aborted outer signal rejects at once", async () => {
    const ctrl = new AbortController();
    ctrl.abort(new Error("gone"));
    await expect(withTimeout(async () => 1, 1000, ctrl.signal)).rejects.toThrow("gone");
  });
});

describe("Bulkhead", () => {
  test("limits concurrency, queues up to the bound, refuses beyond", async () => {
    const b = new Bulkhead("orders", 2, 1);
    let running = 0, peak = 0;
    const gates: (() => void)[] = [];
    const work = () => b.run(() => new Promise<void>((resolve) => { running++; peak = Math.max(peak, running); gates.push(() => { running--; resolve(); }); }));
    const p1 = work(), p2 = work(), p3 = work();
    await Bun.sleep(5);
    expect([b.inFlight, b.queued]).toEqual([2, 1]);
    await expect(work()).rejects.toBeInstanceOf(BulkheadRejectedError);
    gates.shift()!();
    await Bun.sleep(5);
    expect([b.inFlight, b.queued]).toEqual([2, 0]); // the queued call took the freed slot
    while (gates.length) { gates.shift()!(); await Bun.sleep(1); }
    await Promise.all([p1, p2, p3]);
    expect(peak).toBe(2);
    expect(b.inFlight).toBe(0);
  });
  test("a queued call that waits too long is refused", async () => {
    const b = new Bulkhead("slow", 1, 5, 30);
    expect(b.tryEnter()).toBe(true);
    const err = await b.enter().catch((e) => e);
    expect(err).toBeInstanceOf(BulkheadRejectedError);
    expect(err.reason).toBe("queue_timeout");
    expect(b.queued).toBe(0);
    b.leave();
    expect(b.tryEnter()).toBe(true);
  });
  test("rejects a nonsensical size", () => {
    expect(() => new Bulkhead("x", 0)).toThrow(RangeError);
  });
});

describe("fallbacks", () => {
  test("a static JSON fallback is built once and served fresh each time", async () => {
    const fb = compileFallback({ status: 200, body: { items: [], degraded: true }, headers: { "cache-control": "no-store" } });
    const a = fb(), b = fb();
    expect(a).not.toBe(b);
    expect(a.headers.get("content-type")).toBe("application/json");
    expect(a.headers.get("x-fallback")).toBe("1");
    expect(a.headers.get("cache-control")).toBe("no-store");
    expect(await a.json()).toEqual({ items: [], degraded: true });
    const text = compileFallback({ status: 503, body: "maintenance" })();
    expect([text.status, await text.text(), text.headers.get("content-type")]).toEqual([503, "maintenance", "text/plain; charset=utf-8"]);
  });
  test("withFallback answers with the fallback only for the errors it is told to", async () => {
    expect(await withFallback(async () => { throw new TimeoutError(5); }, () => "cached", (e) => e instanceof TimeoutError)).toBe("cached");
    await expect(withFallback(async () => { throw new Error("bug"); }, () => "cached", (e) => e instanceof TimeoutError)).rejects.toThrow("bug");
    expect(await withFallback(async () => "live", () => "cached")).toBe("live");
  });
});
