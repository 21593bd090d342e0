import { describe, expect, test } from "bun:test";
import { AlertTracker } from "./alerts";
import { BreakerRegistry } from "./breakers";
import { UNGUARDED } from "../../src/contracts/bus-topics";
import { DEFAULT_POLICY } from "./policy";

function setup() {
  let now = 1_000_000;
  const policy = { ...DEFAULT_POLICY, consecutiveFailureThreshold: 3, failureRateThreshold: 60, minimumCalls: 4, windowSize: 10, recoveryTimeoutMs: 100, maxRecoveryTimeoutMs: 100, halfOpenMaxCalls: 1 };
  const r = new BreakerRegistry(() => policy, () => now);
  const tracker = new AlertTracker();
  const settings = { failureRateWarning: 25, flappingTrips: 3, flappingWindowMs: 60_000 };
  const evaluate = () => tracker.evaluate(r.entries.values(), settings, now);
  const outcome = (status: number) => r.record({ service: "svc", status, latencyMs: 1 });
  return { r, tracker, evaluate, outcome, advance: (ms: number) => { now += ms; } };
}

describe("alerts", () => {
  test("failure rate at the warning level raises a warning once, resolves when it drops", () => {
    const { evaluate, outcome } = setup();
    outcome(200); outcome(200); outcome(200); outcome(500);
    let e = evaluate();
    expect(e.raised.map((a) => [a.kind, a.severity])).toEqual([["failure_rate_high", "warning"]]);
    expect(evaluate().raised).toHaveLength(0); // still active, not raised again
    for (let i = 0; i < 6; i++) outcome(200);
    e = evaluate();
    expect(e.resolved.map((a) => a.kind)).toEqual(["failure_rate_high"]);
  });
  test("open is critical with the outage's first opening as since-time; flapping after repeated re-opens", () => {
    const { r, evaluate, outcome, advance, tracker } = setup();
    outcome(500); outcome(500); outcome(500);
    const openedAt = r.entries.get("svc")!.machine.stateSince;
    expect(evaluate().raised.map((a) => a.kind)).toEqual(["breaker_open"]);
    for (let i = 0; i < 3; i++) { advance(100); expect(r.permit("svc").allowed).toBe(true); outcome(500); }
    const e = evaluate();
    expect(e.raised.map((a) => [a.kind, a.severity])).toEqual([["breaker_flapping", "warning"]]);
    expect(tracker.list().map((a) => a.kind)).toEqual(["breaker_open", "breaker_flapping"]);
    expect(tracker.active.get("svc:breaker_open")!.since).toBe(openedAt);
    r.operate("svc", "reset");
    advance(61_000);
    expect(evaluate().resolved.map((a) => a.kind).sort()).toEqual(["breaker_flapping", "breaker_open"]);
  });
  test("rejections while open are counted and answered with the time left", () => {
    const { r, outcome, advance } = setup();
    outcome(500); outcome(500); outcome(500);
    advance(40);
    const d = r.permit("svc");
    expect(d).toEqual({ allowed: false, retryAfterMs: 60, state: "open" });
    expect(r.entries.get("svc")!.rejected).toBe(1);
  });
});

describe("registry limits", () => {
  test("names beyond max_breakers pass unguarded and are reported once", () => {
    const r = new BreakerRegistry(() => ({ ...DEFAULT_POLICY, consecutiveFailureThreshold: 1 }));
    r.maxBreakers = 2;
    const refused: string[] = [];
    r.onLimit = (n) => refused.push(n);
    r.record({ service: "a", status: 500, latencyMs: 1 });
    r.record({ service: "b", status: 200, latencyMs: 1 });
    for (let i = 0; i < 3; i++) r.record({ service: "c", status: 500, latencyMs: 1 });
    expect(r.permit("a").allowed).toBe(false);
    expect(r.permit("c")).toBe(UNGUARDED); // no breaker: a permit that settles nothing
    expect([...r.entries.keys()]).toEqual(["a", "b"]);
    expect(refused).toEqual(["c"]);
  });
});
