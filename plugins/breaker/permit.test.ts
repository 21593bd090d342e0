import { describe, expect, test } from "bun:test";
import { BreakerRegistry } from "./breakers";
import { DEFAULT_POLICY, type BreakerPolicy } from "./policy";
import { permitLedger } from "./permit";
import type { Permit, PermitDecision } from "../../src/contracts/bus-topics";

function setup(p: Partial<BreakerPolicy> = {}) {
  let now = 1_000_000;
  const r = new BreakerRegistry(() => ({ ...DEFAULT_POLICY, consecutiveFailureThreshold: 2, recoveryTimeoutMs: 1000, halfOpenMaxCalls: 1, ...p }), () => now);
  return { r, advance: (ms: number) => { now += ms; } };
}
const granted = (d: PermitDecision): Permit => { if (!d.allowed) throw new Error("refused"); return d; };

describe("breaker permits", () => {
  test("a permit counts once however often it is settled; the ledger follows", () => {
    const { r } = setup();
    const before = permitLedger.outstanding;
    const p = granted(r.permit("svc"));
    expect(permitLedger.outstanding).toBe(before + 1);
    expect(r.entries.get("svc")!.outstanding).toBe(1);
    p.settle(500, 1);
    p.settle(500, 1);
    p.settle(500, 1);
    expect(r.entries.get("svc")!.failures).toBe(1);
    expect(r.entries.get("svc")!.stateName).toBe("closed"); // threshold 2: three settles of one permit are one failure
    expect(permitLedger.outstanding).toBe(before);
  });

  test("a half-open trial settled 'unsent' gives its slot back at once (no wait for half_open_max_wait)", () => {
    const { r, advance } = setup();
    for (let i = 0; i < 2; i++) granted(r.permit("svc")).settle(0, 1, "connect");
    expect(r.permit("svc").allowed).toBe(false);
    advance(1001);
    const trial = granted(r.permit("svc"));
    expect(r.permit("svc").allowed).toBe(false); // the one slot is taken
    trial.settle(0, 0, "unsent");
    const next = granted(r.permit("svc")); // given back: the next request is the trial
    next.settle(200, 1);
    expect(r.entries.get("svc")!.stateName).toBe("closed");
  });

  test("a 'client' outcome also gives the slot back; neither counts as failure or success", () => {
    const { r, advance } = setup();
    for (let i = 0; i < 2; i++) granted(r.permit("svc")).settle(503, 1);
    advance(1001);
    granted(r.permit("svc")).settle(0, 3, "client");
    expect(r.entries.get("svc")!.stateName).toBe("half_open");
    expect(r.entries.get("svc")!.ignored).toBe(1);
    expect(r.permit("svc").allowed).toBe(true);
  });

  test("a permit granted in another state epoch does not move the machine (a late CLOSED call is no trial)", () => {
    const { r, advance } = setup();
    const late = granted(r.permit("svc"));
    for (let i = 0; i < 2; i++) granted(r.permit("svc")).settle(0, 1, "timeout");
    advance(1001);
    const trial = granted(r.permit("svc"));
    late.settle(200, 1); // granted while CLOSED, settled in HALF_OPEN: counted, but not as the trial
    const e = r.entries.get("svc")!;
    expect(e.stateName).toBe("half_open");
    expect(e.successes).toBe(1);
    trial.settle(200, 1);
    expect(e.stateName).toBe("closed");
  });
});
