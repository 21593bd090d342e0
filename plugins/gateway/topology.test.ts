/**
 * The call graph's sliding window, at explicit clock values: counts per second add up over the window,
 * a slot reused a window later starts from zero, and an edge with nothing in the window is idle.
 */
import { describe, expect, test } from "bun:test";
import { Topology } from "./topology";

const T0 = 1_800_000_000_000; // ms, a whole second

function edge(t: Topology, now: number) {
  const all = t.windowed(now, true);
  expect(all.length).toBe(1);
  return all[0];
}

describe("Topology window", () => {
  test("requests, errors and latency buckets add up over the seconds of the window", () => {
    const t = new Topology(10);
    t.record("alice", "r1", "svc", "http://a", 200, 0.5, T0);
    t.record("alice", "r1", "svc", "http://a", 200, 7, T0 + 300);
    t.record("alice", "r1", "svc", "http://a", 503, 30, T0 + 1000);
    t.record("alice", "r1", "svc", "http://a", 0, 20_000, T0 + 9_999);
    const e = edge(t, T0 + 9_999);
    expect([e.requests, e.errors, e.total, e.total_errors]).toEqual([4, 2, 4, 2]);
    // BUCKETS: 1, 2, 5, 10, 25, 50, ... 10000, Infinity
    expect(e.hist[0]).toBe(1); // 0.5 ms
    expect(e.hist[3]).toBe(1); // 7 ms
    expect(e.hist[5]).toBe(1); // 30 ms
    expect(e.hist[e.hist.length - 1]).toBe(1); // 20 s
    expect(e.hist.reduce((a, b) => a + b, 0)).toBe(4);
  });

  test("seconds leave the window as it slides; a reused slot starts again from zero", () => {
    const t = new Topology(10);
    t.record("bob", "r1", "svc", "http://a", 200, 3, T0);
    t.record("bob", "r1", "svc", "http://a", 500, 3, T0 + 5_000);
    expect(edge(t, T0 + 9_000).requests).toBe(2);
    expect(edge(t, T0 + 10_000).requests).toBe(1); // T0's second has left
    // T0 + 10 s falls in T0's slot: it counts alone, not on top of what T0 left there.
    t.record("bob", "r1", "svc", "http://a", 200, 3, T0 + 10_000);
    const e = edge(t, T0 + 10_000);
    expect([e.requests, e.errors]).toEqual([2, 1]);
    expect(e.total).toBe(3);
    const later = edge(t, T0 + 30_000);
    expect([later.requests, later.errors, later.total]).toEqual([0, 0, 3]);
    expect(t.windowed(T0 + 30_000).length).toBe(0); // nothing in the window: left out unless asked for all
  });
});
