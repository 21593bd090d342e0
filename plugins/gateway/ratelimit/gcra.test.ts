/** The pure GCRA core: burst of `limit`, then one request per emission interval; denials do not consume. */
import { describe, expect, test } from "bun:test";
import { gcraDecide, makePolicy } from "./gcra";

const p = makePolicy("t", { limit: 10, periodMs: 1000 });

function run(n: number, now: number, tat?: number) {
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    const r = gcraDecide(p, tat, now);
    if (r.decision.allowed) allowed++;
    tat = r.tat;
  }
  return { allowed, tat };
}

describe("gcra", () => {
  test("a fresh key gets exactly `limit` at once", () => {
    expect(run(25, 1_000_000).allowed).toBe(10);
  });
  test("remaining counts down to 0, then denial with retry-after ≈ one emission interval", () => {
    let tat: number | undefined;
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) { const r = gcraDecide(p, tat, 5000); seen.push(r.decision.remaining); tat = r.tat; }
    expect(seen).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const denied = gcraDecide(p, tat, 5000);
    expect(denied.decision.allowed).toBe(false);
    expect(denied.decision.retryAfterMs).toBeCloseTo(100, 5);
    expect(denied.tat).toBe(tat!); // a denial does not push the key further ahead
  });
  test("refills at limit/period", () => {
    const { tat } = run(10, 0);
    expect(run(5, 250, tat).allowed).toBe(2); // 250 ms → 2.5 emissions → 2 requests
    expect(run(20, 2000, tat).allowed).toBe(10); // a full period later the burst is back, no more
  });
  test("policy headers are precomputed", () => {
    const q = makePolicy("orders", { limit: 100, periodMs: 60_000 });
    expect(q.policyHeader).toBe('"orders";q=100;w=60');
    expect(q.signature).toBe("orders|100/60000");
  });
});
