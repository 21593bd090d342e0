/** Per-instance state transitions (pure): passive ejection with doubling backoff, active-check thresholds, EWMA. */
import { expect, test } from "bun:test";
import { ejectionAllowed, isAvailable, observeLatency, recordCheck, recordOutcome, type UpstreamState } from "./upstream-state";

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

test("ejection cap: at most max_ejection_percent of the instances out at once, at least one", () => {
  const now = 1_000_000;
  const members = (ejected: number, total: number) => Array.from({ length: total }, (_, i) => ({ state: { ...fresh(), ejectedUntil: i < ejected ? now + 1000 : 0 } }));
  expect(ejectionAllowed(members(0, 3), 50, now)).toBe(true);
  expect(ejectionAllowed(members(1, 3), 50, now)).toBe(false); // floor(1.5) = 1 already out
  expect(ejectionAllowed(members(1, 4), 50, now)).toBe(true);
  expect(ejectionAllowed(members(2, 4), 50, now)).toBe(false);
  expect(ejectionAllowed(members(0, 1), 10, now)).toBe(true); // one may always go
  expect(ejectionAllowed(members(1, 1), 100, now)).toBe(false);
  expect(ejectionAllowed(members(2, 3), 100, now)).toBe(true);
  const expired = members(3, 3).map((m) => ({ state: { ...m.state, ejectedUntil: now } })); // ejections that ended do not count
  expect(ejectionAllowed(expired, 50, now)).toBe(true);
  // recordOutcome keeps counting a capped instance's failures but does not eject it
  const s = fresh();
  for (let i = 0; i < 4; i++) expect(recordOutcome(s, true, policy, now, () => false)).toBe(false);
  expect(s.ejectedUntil).toBe(0);
  expect(s.failures).toBe(4);
});
