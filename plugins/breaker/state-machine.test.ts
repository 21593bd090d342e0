import { describe, expect, test } from "bun:test";
import {
  BreakerStateMachine, CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, DISABLED, SUCCESS, FAILURE, IGNORED,
  STATE_NAMES, type StateCode,
} from "./state-machine";
import { DEFAULT_POLICY, validatePolicy, type BreakerPolicy } from "./policy";

/** A fake clock the tests move by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; }, set: (ms: number) => { t = ms; } };
}

function machine(over: Partial<BreakerPolicy> = {}, c = clock()) {
  const transitions: { from: string; to: string; reason: string; at: number }[] = [];
  const m = new BreakerStateMachine("svc", { ...DEFAULT_POLICY, ...over }, c.now, (_b, from, to, reason, at) => {
    transitions.push({ from: STATE_NAMES[from], to: STATE_NAMES[to], reason, at });
  });
  return { m, c, transitions };
}

const fail = (m: BreakerStateMachine, n = 1, ms = 1) => { for (let i = 0; i < n; i++) m.record(FAILURE, ms); };
const ok = (m: BreakerStateMachine, n = 1, ms = 1) => { for (let i = 0; i < n; i++) m.record(SUCCESS, ms); };
const name = (s: StateCode) => STATE_NAMES[s];

describe("CLOSED → OPEN by consecutive failures (the seed's FAILURE_THRESHOLD)", () => {
  test("opens exactly at the threshold, not before", () => {
    const { m, transitions } = machine({ consecutiveFailureThreshold: 5, failureRateThreshold: 0 });
    fail(m, 4);
    expect(name(m.state)).toBe("closed");
    fail(m);
    expect(name(m.state)).toBe("open");
    expect(transitions).toHaveLength(1);
    expect(transitions[0].reason).toContain("5 consecutive failures");
  });
  test("a success in between resets the run", () => {
    const { m } = machine({ consecutiveFailureThreshold: 3, failureRateThreshold: 0 });
    fail(m, 2); ok(m); fail(m, 2);
    expect(m.state).toBe(CLOSED);
    fail(m);
    expect(m.state).toBe(OPEN);
  });
  test("ignored outcomes neither break nor extend the run", () => {
    const { m } = machine({ consecutiveFailureThreshold: 3, failureRateThreshold: 0 });
    fail(m, 2); m.record(IGNORED, 1); fail(m);
    expect(m.state).toBe(OPEN);
  });
  test("threshold 0 disables the rule", () => {
    const { m } = machine({ consecutiveFailureThreshold: 0, failureRateThreshold: 100, minimumCalls: 50, windowSize: 100 });
    fail(m, 49);
    expect(m.state).toBe(CLOSED);
    fail(m);
    expect(m.state).toBe(OPEN);
  });
});

describe("CLOSED → OPEN by failure rate over a count window", () => {
  const rate = { consecutiveFailureThreshold: 0, failureRateThreshold: 50, minimumCalls: 4, windowSize: 4 };
  test("no verdict before minimumCalls", () => {
    const { m } = machine({ ...rate, minimumCalls: 6, windowSize: 10 });
    fail(m, 5);
    expect(m.state).toBe(CLOSED);
    fail(m);
    expect(m.state).toBe(OPEN);
  });
  test("opens at exactly the threshold rate", () => {
    const { m, transitions } = machine(rate);
    ok(m); ok(m); fail(m);
    expect(m.state).toBe(CLOSED);
    fail(m); // 2 of 4 = 50%
    expect(m.state).toBe(OPEN);
    expect(transitions[0].reason).toContain("failure rate 50.0%");
  });
  test("just below the threshold stays closed", () => {
    const { m } = machine({ ...rate, windowSize: 5, minimumCalls: 5, failureRateThreshold: 60 });
    ok(m, 3); fail(m, 2); // 40%
    expect(m.state).toBe(CLOSED);
  });
  test("old outcomes slide out of the window", () => {
    const { m } = machine({ ...rate, windowSize: 4, minimumCalls: 4, failureRateThreshold: 75 });
    fail(m, 2); ok(m, 2); // 50%
    ok(m, 2); // window = [ok ok ok ok] → failures slid out
    expect(m.stats().failures).toBe(0);
    fail(m, 2); // [ok ok f f] = 50% < 75%
    expect(m.state).toBe(CLOSED);
    fail(m); // [ok f f f] = 75%
    expect(m.state).toBe(OPEN);
  });
  test("a success never opens even when the window is already above threshold", () => {
    const { m } = machine({ ...rate, minimumCalls: 4, failureRateThreshold: 50 });
    // Raise threshold while failing, then lower: the verdict runs on failures only.
    m.updatePolicy({ ...m.currentPolicy, failureRateThreshold: 100 });
    fail(m, 3);
    m.updatePolicy({ ...m.currentPolicy, failureRateThreshold: 50 });
    ok(m);
    expect(m.state).toBe(CLOSED);
    fail(m);
    expect(m.state).toBe(OPEN);
  });
  test("4 failures with threshold 100 opens only at 100%", () => {
    const { m } = machine({ ...rate, failureRateThreshold: 100 });
    ok(m); fail(m, 3);
    expect(m.state).toBe(CLOSED);
    fail(m);
    expect(m.state).toBe(OPEN);
  });
});

describe("time-based window with a fake clock", () => {
  const time = { windowType: "time" as const, windowSize: 10, consecutiveFailureThreshold: 0, failureRateThreshold: 50, minimumCalls: 4 };
  test("failures older than the window no longer count", () => {
    const { m, c } = machine(time);
    fail(m, 3);
    c.advance(10_000); // the whole window has passed
    expect(m.stats().calls).toBe(0);
    ok(m, 3); fail(m); // 1 of 4 = 25%
    expect(m.state).toBe(CLOSED);
  });
  test("failures spread inside the window add up", () => {
    const { m, c } = machine(time);
    for (let i = 0; i < 4; i++) { ok(m); fail(m); c.advance(2000); }
    // 8 calls over 8 s, 4 failures = 50% → opened at the 4th failure
    expect(m.state).toBe(OPEN);
  });
  test("partial expiry: buckets fall out one second at a time", () => {
    const { m, c } = machine({ ...time, minimumCalls: 100 });
    c.set(5_000_000);
    fail(m, 2);           // second 5000
    c.advance(3000);
    ok(m, 3);             // second 5003
    expect(m.stats()).toMatchObject({ calls: 5, failures: 2 });
    c.advance(6999);      // second 5009.999 → 5009: 5000 still inside a 10 s window
    expect(m.stats()).toMatchObject({ calls: 5, failures: 2 });
    c.advance(1);         // second 5010: 5000 drops out
    expect(m.stats()).toMatchObject({ calls: 3, failures: 0 });
    c.advance(3000);      // second 5013: 5003 drops out
    expect(m.stats().calls).toBe(0);
  });
  test("a clock stepping backwards does not corrupt the window", () => {
    const { m, c } = machine({ ...time, minimumCalls: 100 });
    fail(m);
    c.advance(-5000);
    fail(m);
    expect(m.stats()).toMatchObject({ calls: 2, failures: 2 });
  });
});

describe("slow-call rule", () => {
  const slow = { consecutiveFailureThreshold: 0, failureRateThreshold: 50, slowCallDurationMs: 100, slowCallRateThreshold: 50, minimumCalls: 4, windowSize: 4 };
  test("slow successes open the breaker at the slow-rate threshold", () => {
    const { m, transitions } = machine(slow);
    ok(m, 2, 10); ok(m, 1, 150);
    expect(m.state).toBe(CLOSED);
    ok(m, 1, 100); // exactly the duration counts as slow: 2 of 4
    expect(m.state).toBe(OPEN);
    expect(transitions[0].reason).toContain("slow-call rate");
  });
  test("slowCallDurationMs 0 disables it", () => {
    const { m } = machine({ ...slow, slowCallDurationMs: 0 });
    ok(m, 10, 10_000);
    expect(m.state).toBe(CLOSED);
  });
  test("failure rule still applies alongside", () => {
    const { m } = machine(slow);
    ok(m, 2, 1); fail(m, 2, 1);
    expect(m.state).toBe(OPEN);
  });
});

describe("OPEN → HALF_OPEN → CLOSED | OPEN", () => {
  const base = { consecutiveFailureThreshold: 2, failureRateThreshold: 50, recoveryTimeoutMs: 1000, recoveryBackoffMultiplier: 2, maxRecoveryTimeoutMs: 3000, halfOpenMaxCalls: 2 };
  test("refuses every call until the recovery timeout, then lets trial calls through", () => {
    const { m, c, transitions } = machine(base);
    fail(m, 2);
    expect(m.openUntil).toBe(c.now() + 1000);
    expect(m.tryAcquire()).toBe(false);
    c.advance(999);
    expect(m.tryAcquire()).toBe(false);
    c.advance(1);
    expect(m.tryAcquire()).toBe(true);
    expect(m.state).toBe(HALF_OPEN);
    expect(m.tryAcquire()).toBe(true);
    expect(m.tryAcquire()).toBe(false); // only halfOpenMaxCalls trials
    expect(transitions.map((t) => t.to)).toEqual(["open", "half_open"]);
  });
  test("all trials healthy → CLOSED with an empty window", () => {
    const { m, c } = machine(base);
    fail(m, 2);
    c.advance(1000);
    m.tryAcquire(); m.tryAcquire();
    ok(m);
    expect(m.state).toBe(HALF_OPEN);
    ok(m);
    expect(m.state).toBe(CLOSED);
    expect(m.stats().calls).toBe(0);
    expect(m.tryAcquire()).toBe(true);
  });
  test("a failed trial re-opens with a doubled (capped) timeout; closing resets it", () => {
    const { m, c, transitions } = machine(base);
    fail(m, 2); // timeout 1000
    c.advance(1000); m.tryAcquire(); fail(m); // 1 of 2 trials = 50% → re-open
    expect(m.state).toBe(OPEN);
    expect(m.openUntil - c.now()).toBe(2000);
    c.advance(2000); m.tryAcquire(); fail(m);
    expect(m.openUntil - c.now()).toBe(3000); // 4000 capped at 3000
    c.advance(3000); m.tryAcquire(); fail(m);
    expect(m.openUntil - c.now()).toBe(3000);
    c.advance(3000); m.tryAcquire(); m.tryAcquire(); ok(m, 2);
    expect(m.state).toBe(CLOSED);
    fail(m, 2);
    expect(m.openUntil - c.now()).toBe(1000);
    expect(transitions.filter((t) => t.to === "open").length).toBe(5);
  });
  test("trial verdict waits for all trials when one failure stays below the rate", () => {
    const { m, c } = machine({ ...base, halfOpenMaxCalls: 4, failureRateThreshold: 50 });
    fail(m, 2); c.advance(1000);
    for (let i = 0; i < 4; i++) m.tryAcquire();
    fail(m); // 25%
    expect(m.state).toBe(HALF_OPEN);
    ok(m, 3);
    expect(m.state).toBe(CLOSED);
  });
  test("slow trials re-open", () => {
    const { m, c } = machine({ ...base, slowCallDurationMs: 50, slowCallRateThreshold: 50 });
    fail(m, 2); c.advance(1000); m.tryAcquire(); m.tryAcquire();
    ok(m, 1, 60);
    expect(m.state).toBe(OPEN);
  });
  test("an ignored trial frees its slot", () => {
    const { m, c } = machine(base);
    fail(m, 2); c.advance(1000);
    m.tryAcquire(); m.tryAcquire();
    expect(m.tryAcquire()).toBe(false);
    m.record(IGNORED, 1);
    expect(m.tryAcquire()).toBe(true);
  });
  test("tick moves OPEN to HALF_OPEN without traffic", () => {
    const { m, c } = machine(base);
    fail(m, 2);
    m.tick();
    expect(m.state).toBe(OPEN);
    c.advance(1000); m.tick();
    expect(m.state).toBe(HALF_OPEN);
  });
  test("trial permits that never report are given back after halfOpenMaxWaitMs", () => {
    const { m, c, transitions } = machine({ ...base, halfOpenMaxWaitMs: 500 });
    fail(m, 2); c.advance(1000);
    expect(m.tryAcquire()).toBe(true);
    c.advance(100);
    expect(m.tryAcquire()).toBe(true);   // both slots out; neither reports (caller gave up)
    c.advance(499);
    expect(m.tryAcquire()).toBe(false);  // 499 ms since the last permit
    c.advance(1);
    expect(m.tryAcquire()).toBe(true);   // slots reclaimed, still half-open
    expect(m.tryAcquire()).toBe(true);
    expect(m.tryAcquire()).toBe(false);
    ok(m, 2);
    expect(m.state).toBe(CLOSED);
    expect(transitions.map((t) => t.to)).toEqual(["open", "half_open", "closed"]);
  });
  test("reported trials keep their verdict when slots are reclaimed", () => {
    const { m, c } = machine({ ...base, halfOpenMaxCalls: 3, failureRateThreshold: 50, halfOpenMaxWaitMs: 500 });
    fail(m, 2); c.advance(1000);
    m.tryAcquire(); m.tryAcquire(); m.tryAcquire();
    fail(m); // 1 of 3 reported, failed (33% < 50%)
    c.advance(500);
    expect(m.tryAcquire()).toBe(true);   // one reclaimed slot... 
    expect(m.tryAcquire()).toBe(true);   // ...and the other
    expect(m.tryAcquire()).toBe(false);
    fail(m);                              // 2 of 3 failed → re-open
    expect(m.state).toBe(OPEN);
  });
  test("halfOpenMaxWaitMs 0 waits for the reports forever", () => {
    const { m, c } = machine({ ...base, halfOpenMaxWaitMs: 0 });
    fail(m, 2); c.advance(1000);
    m.tryAcquire(); m.tryAcquire();
    c.advance(3_600_000);
    expect(m.tryAcquire()).toBe(false);
    expect(m.state).toBe(HALF_OPEN);
  });
  test("late outcomes arriving while OPEN are ignored", () => {
    const { m } = machine(base);
    fail(m, 2);
    ok(m, 10); fail(m, 10);
    expect(m.state).toBe(OPEN);
    expect(m.trips).toBe(1);
  });
  test("recovery timeout 0 goes straight to trials", () => {
    const { m } = machine({ ...base, recoveryTimeoutMs: 0, maxRecoveryTimeoutMs: 0 });
    fail(m, 2);
    expect(m.tryAcquire()).toBe(true);
    expect(m.state).toBe(HALF_OPEN);
  });
  test("multiplier 1 keeps the timeout constant", () => {
    const { m, c } = machine({ ...base, recoveryBackoffMultiplier: 1 });
    fail(m, 2); c.advance(1000); m.tryAcquire(); fail(m);
    expect(m.openUntil - c.now()).toBe(1000);
  });
});

describe("operator states", () => {
  test("FORCED_OPEN refuses everything and does not recover by time", () => {
    const { m, c, transitions } = machine();
    m.forceOpen();
    expect(m.tryAcquire()).toBe(false);
    c.advance(10 * 3_600_000); m.tick();
    expect(m.tryAcquire()).toBe(false);
    expect(m.state).toBe(FORCED_OPEN);
    fail(m, 100);
    ok(m, 100);
    expect(m.state).toBe(FORCED_OPEN);
    expect(transitions[0]).toMatchObject({ from: "closed", to: "forced_open", reason: "forced open by operator" });
  });
  test("DISABLED lets everything through and never trips", () => {
    const { m } = machine({ consecutiveFailureThreshold: 1 });
    m.disable();
    fail(m, 100);
    expect(m.tryAcquire()).toBe(true);
    expect(m.state).toBe(DISABLED);
  });
  test("reset from every state goes to CLOSED with an empty window", () => {
    for (const setup of [
      (m: BreakerStateMachine) => fail(m, 5),
      (m: BreakerStateMachine) => m.forceOpen(),
      (m: BreakerStateMachine) => m.disable(),
      (m: BreakerStateMachine, c: ReturnType<typeof clock>) => { fail(m, 5); c.advance(60_000); m.tryAcquire(); },
    ]) {
      const { m, c, transitions } = machine();
      setup(m, c);
      expect(m.state).not.toBe(CLOSED);
      m.reset();
      expect(m.state).toBe(CLOSED);
      expect(m.stats().calls).toBe(0);
      expect(m.trips).toBe(0);
      expect(transitions.at(-1)).toMatchObject({ to: "closed", reason: "reset by operator" });
    }
  });
  test("reset of a closed breaker does not report a transition", () => {
    const { m, transitions } = machine();
    m.reset();
    expect(transitions).toHaveLength(0);
  });
});

describe("policy updates (config reload)", () => {
  test("state survives; thresholds change", () => {
    const { m } = machine({ consecutiveFailureThreshold: 5, failureRateThreshold: 0 });
    fail(m, 3);
    m.updatePolicy({ ...m.currentPolicy, consecutiveFailureThreshold: 4 });
    fail(m);
    expect(m.state).toBe(OPEN);
  });
  test("changing the window shape starts a fresh window; same shape keeps it", () => {
    const { m } = machine({ windowSize: 10, minimumCalls: 100, consecutiveFailureThreshold: 0 });
    fail(m, 3);
    m.updatePolicy({ ...m.currentPolicy, failureRateThreshold: 90 });
    expect(m.stats().calls).toBe(3);
    m.updatePolicy({ ...m.currentPolicy, windowType: "time" });
    expect(m.stats().calls).toBe(0);
  });
  test("invalid policies are refused with every reason", () => {
    expect(validatePolicy({ ...DEFAULT_POLICY, windowSize: 0, failureRateThreshold: 101, halfOpenMaxCalls: 0 })).toHaveLength(3);
    expect(validatePolicy({ ...DEFAULT_POLICY, failureRateThreshold: 0, consecutiveFailureThreshold: 0, slowCallDurationMs: 0 })).toHaveLength(1);
    expect(() => machine({ maxRecoveryTimeoutMs: 1, recoveryTimeoutMs: 2 })).toThrow(/maxRecoveryTimeoutMs/);
    const { m } = machine();
    expect(() => m.updatePolicy({ ...DEFAULT_POLICY, recoveryBackoffMultiplier: 0.5 })).toThrow(/BackoffMultiplier/);
  });
});

describe("cluster: remote transitions", () => {
  test("a remote OPEN applies its retry time and notifies once", () => {
    const { m, c, transitions } = machine();
    m.applyRemote(OPEN, c.now() + 5000, "remote");
    m.applyRemote(OPEN, c.now() + 5000, "remote");
    expect(m.state).toBe(OPEN);
    expect(m.tryAcquire()).toBe(false);
    c.advance(5000);
    expect(m.tryAcquire()).toBe(true);
    expect(transitions.map((t) => t.to)).toEqual(["open", "half_open"]);
  });
  test("a remote CLOSED clears the window", () => {
    const { m } = machine({ consecutiveFailureThreshold: 3, failureRateThreshold: 0 });
    fail(m, 2);
    m.forceOpen();
    m.applyRemote(CLOSED, 0, "remote");
    fail(m, 2);
    expect(m.state).toBe(CLOSED);
  });
});

describe("half-open verdict by rule combination", () => {
  const open = (over: Partial<BreakerPolicy>) => {
    const r = machine({ recoveryTimeoutMs: 100, maxRecoveryTimeoutMs: 100, halfOpenMaxCalls: 4, consecutiveFailureThreshold: 1, failureRateThreshold: 0, ...over });
    fail(r.m, 1);
    if (r.m.state !== OPEN) { r.m.forceOpen(); r.m.reset(); fail(r.m, 20); }
    expect(r.m.state).toBe(OPEN);
    r.c.advance(r.m.openUntil - r.c.now());
    for (let i = 0; i < 4; i++) expect(r.m.tryAcquire()).toBe(true);
    return r.m;
  };
  test.each([
    // [description, policy, trial outcomes (1 = fail), final state]
    ["consecutive-only: one failed trial re-opens", { consecutiveFailureThreshold: 3, failureRateThreshold: 0 }, [0, 0, 0, 1], OPEN],
    ["consecutive-only: all trials fine closes", { consecutiveFailureThreshold: 3, failureRateThreshold: 0 }, [0, 0, 0, 0], CLOSED],
    ["rate 50%: 1 of 4 failed still closes", { consecutiveFailureThreshold: 0, failureRateThreshold: 50, minimumCalls: 1 }, [1, 0, 0, 0], CLOSED],
    ["rate 50%: 2 of 4 failed re-opens", { consecutiveFailureThreshold: 0, failureRateThreshold: 50, minimumCalls: 1 }, [0, 1, 0, 1], OPEN],
    ["rate 25%: 1 of 4 failed re-opens", { consecutiveFailureThreshold: 0, failureRateThreshold: 25, minimumCalls: 1 }, [0, 0, 0, 1], OPEN],
    ["both rules, threshold 1: first failure re-opens", { consecutiveFailureThreshold: 1, failureRateThreshold: 90 }, [1], OPEN],
    ["both rules, consecutive 5 + rate 75%: 2 of 4 fail closes", { consecutiveFailureThreshold: 5, failureRateThreshold: 75, minimumCalls: 1 }, [1, 1, 0, 0], CLOSED],
  ] as [string, Partial<BreakerPolicy>, number[], StateCode][])("%s", (_d, over, outcomes, expected) => {
    const m = open(over);
    for (const o of outcomes) m.record(o ? FAILURE : SUCCESS, 1);
    expect(name(m.state)).toBe(name(expected));
  });
});

describe("operator transitions from every state", () => {
  const reach: Record<string, (m: BreakerStateMachine, c: ReturnType<typeof clock>) => void> = {
    closed: () => {},
    open: (m) => fail(m, 5),
    half_open: (m, c) => { fail(m, 5); c.advance(60_000); m.tryAcquire(); },
    forced_open: (m) => m.forceOpen(),
    disabled: (m) => m.disable(),
  };
  const actions: Record<string, [(m: BreakerStateMachine) => void, StateCode]> = {
    reset: [(m) => m.reset(), CLOSED],
    force_open: [(m) => m.forceOpen(), FORCED_OPEN],
    disable: [(m) => m.disable(), DISABLED],
  };
  for (const [from, setup] of Object.entries(reach)) {
    for (const [action, [run, to]] of Object.entries(actions)) {
      test(`${from} --${action}--> ${STATE_NAMES[to]}`, () => {
        const { m, c, transitions } = machine();
        setup(m, c);
        expect(name(m.state)).toBe(from as any);
        const before = transitions.length;
        run(m);
        expect(m.state).toBe(to);
        expect(transitions.length).toBe(from === STATE_NAMES[to] ? before : before + 1);
        expect(m.tryAcquire()).toBe(to !== FORCED_OPEN);
      });
    }
  }
});
