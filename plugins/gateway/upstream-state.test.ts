/** Per-instance state transitions (pure): passive ejection with doubling backoff, active-check thresholds, EWMA. */
import { expect, test } from "bun:test";
import { isAvailable, observeLatency, recordCheck, recordOutcome, type UpstreamState } from "./upstream-state";

const fresh = (): UpstreamState => ({ url: "u", active: 0, ewmaMs: 0, ewmaAt: 0, healthy: true, checkPasses: 0, checkFailures: 0, consecutiveFailures: 0, ejectedUntil: 0, ejections: 0, requests: 0, failures: 0 });
const policy = { enabled: true, consecutive_failures: 3, base_ejection: 1000, max_ejection: 3000 };

test("consecutive failures eject; a success in between resets the count", () => {
  const s = fresh();
  expect(recordOutcome(s, true, policy, 0)).toBe(false);
  expect(recordOutcome(s, true, policy, 0)).toBe(false);
  expect(recordOutcome(s, false, policy, 0)).toBe(false);
  expect(recordOutcome(s, true, policy, 0)).toBe(false);
  expect(recordOutcome(s, true, policy, 0)).toBe(false);
  expect(recordOutcome(s, true, policy, 10)).toBe(true);
  expect(s.ejectedUntil).toBe(1010);
  expect(isAvailable(s, 1009)).toBe(false);
  expect(isAvailable(s, 1010)).toBe(true);
});

test("repeat ejections double the backoff up to max_ejection", () => {
  const s = fresh();
  const ejectAt = (t: number) => { for (let i = 0; i < 3; i++) recordOutcome(s, true, policy, t); return s.ejectedUntil - t; };
  expect(ejectAt(0)).toBe(1000);
  expect(ejectAt(5000)).toBe(2000);
  expect(ejectAt(10000)).toBe(3000);
  expect(ejectAt(20000)).toBe(3000);
  expect(s.ejections).toBe(4);
});

test("outlier detection off: never ejects", () => {
  const s = fresh();
  for (let i = 0; i < 10; i++) expect(recordOutcome(s, true, { ...policy, enabled: false }, 0)).toBe(false);
  expect(s.failures).toBe(10);
});

test("active checks: down after unhealthy_threshold failures, up after healthy_threshold passes (clearing an ejection)", () => {
  const s = fresh();
  const p = { healthy_threshold: 2, unhealthy_threshold: 2 };
  expect(recordCheck(s, false, p, "refused")).toBeUndefined();
  expect(recordCheck(s, false, p, "refused")).toBe(false);
  expect(s.healthy).toBe(false);
  expect(s.lastCheckError).toBe("refused");
  s.ejectedUntil = 1e15;
  expect(recordCheck(s, true, p)).toBeUndefined();
  expect(recordCheck(s, true, p)).toBe(true);
  expect(isAvailable(s, 0)).toBe(true);
});

test("latency EWMA takes a slower sample at once and decays toward faster ones", () => {
  const s = fresh();
  observeLatency(s, 10, 1000);
  expect(s.ewmaMs).toBe(10);
  observeLatency(s, 50, 1001);
  expect(s.ewmaMs).toBe(50);
  observeLatency(s, 10, 11_001); // one decay time later: e^-1 of the old value remains
  expect(s.ewmaMs).toBeCloseTo(50 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 5);
});
