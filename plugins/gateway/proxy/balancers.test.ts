/** Balancer algorithms as pure modules (no I/O): distribution, skipping down/ejected members, exclusion. */
import { describe, expect, test } from "bun:test";
import { leastConnections, p2cEwma, roundRobin, smoothWeighted, type Member } from "./balancers";
import type { UpstreamState } from "../upstream-state";

function member(url: string, weight = 1, over: Partial<UpstreamState> = {}): Member {
  const state: UpstreamState = { url, active: 0, ewmaMs: 0, ewmaAt: 0, healthy: true, checkPasses: 0, checkFailures: 0, consecutiveFailures: 0, ejectedUntil: 0, ejections: 0, requests: 0, failures: 0, ...over };
  return { url, weight, state, currentWeight: 0 };
}

function tally(pick: () => Member | undefined, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) { const m = pick(); const k = m?.url ?? "none"; out[k] = (out[k] ?? 0) + 1; }
  return out;
}

describe("smooth weighted round robin", () => {
  test("weights 5:1:1 give nginx's spread sequence a a b a c a a", () => {
    const ms = [member("a", 5), member("b", 1), member("c", 1)];
    const b = smoothWeighted();
    expect(Array.from({ length: 7 }, () => b.pick(ms, 0)!.url).join(" ")).toBe("a a b a c a a");
  });
  test("3:1 is exact over 4,000 picks", () => {
    const ms = [member("a", 3), member("b", 1)];
    const b = smoothWeighted();
    expect(tally(() => b.pick(ms, 0), 4000)).toEqual({ a: 3000, b: 1000 });
  });
  test("a down member's share goes to the others", () => {
    const ms = [member("a", 3), member("b", 1, { healthy: false }), member("c", 1)];
    const b = smoothWeighted();
    expect(tally(() => b.pick(ms, 0), 400)).toEqual({ a: 300, c: 100 });
  });
});

describe("round robin", () => {
  test("each member in turn, skipping an ejected one until its ejection ends", () => {
    const ms = [member("a"), member("b", 1, { ejectedUntil: 1000 }), member("c")];
    const b = roundRobin();
    expect(tally(() => b.pick(ms, 500), 10)).toEqual({ a: 5, c: 5 });
    expect(tally(() => b.pick(ms, 1000), 9)).toEqual({ a: 3, b: 3, c: 3 });
  });
  test("exclude avoids the member a retry must not reuse; nothing left → undefined", () => {
    const ms = [member("a"), member("b")];
    const b = roundRobin();
    for (let i = 0; i < 5; i++) expect(b.pick(ms, 0, ms[0])!.url).toBe("b");
    expect(b.pick([ms[0]], 0, ms[0])).toBeUndefined();
    expect(b.pick([], 0)).toBeUndefined();
  });
});

describe("least connections", () => {
  test("picks the member with the fewest requests in flight", () => {
    const ms = [member("a", 1, { active: 5 }), member("b", 1, { active: 1 }), member("c", 1, { active: 3 })];
    expect(leastConnections().pick(ms, 0)!.url).toBe("b");
  });
  test("ties rotate, so equals share the load", () => {
    const ms = [member("a"), member("b"), member("c")];
    expect(tally(() => leastConnections().pick(ms, 0), 3)).toEqual({ a: 3 }); // a fresh balancer starts at 0
    const b = leastConnections();
    expect(tally(() => b.pick(ms, 0), 300)).toEqual({ a: 100, b: 100, c: 100 });
  });
});

describe("p2c ewma", () => {
  test("prefers the member with the lower latency × load", () => {
    const ms = [member("slow", 1, { ewmaMs: 50, ewmaAt: 1 }), member("fast", 1, { ewmaMs: 1, ewmaAt: 1 })];
    expect(tally(() => p2cEwma().pick(ms, 0), 100)).toEqual({ fast: 100 });
  });
  test("with many members, the slowest is almost never chosen", () => {
    const ms = [member("a", 1, { ewmaMs: 100, ewmaAt: 1 }), member("b", 1, { ewmaMs: 2, ewmaAt: 1 }), member("c", 1, { ewmaMs: 3, ewmaAt: 1 }), member("d", 1, { ewmaMs: 4, ewmaAt: 1 })];
    let seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const b = p2cEwma(rnd);
    const t = tally(() => b.pick(ms, 0), 4000);
    expect(t.a ?? 0).toBe(0); // a loses every comparison it enters
    expect(t.b).toBeGreaterThan(t.d);
  });
  test("skips unavailable members and returns the only one left", () => {
    const ms = [member("a", 1, { healthy: false }), member("b")];
    expect(tally(() => p2cEwma().pick(ms, 0), 20)).toEqual({ b: 20 });
  });
});
