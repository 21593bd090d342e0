import { describe, expect, test } from "bun:test";
import { coreTicks, idleCell, idleShare, loadBound, parseCoreTicks } from "./core-idle";

// Two readings of a real /proc/stat layout (a 2-core machine, 5 s apart at 100 ticks/s).
const before = `cpu  41356 0 39665 45749 632 0 14978 0 0 0
cpu0 20000 0 20000 20000 300 0 7000 0 0 0
cpu1 21356 0 19665 25749 332 0 7978 0 0 0
intr 123 0 0
ctxt 999`;
const after = `cpu  41956 0 40065 45849 632 0 15378 0 0 0
cpu0 20300 0 20150 20000 300 0 7050 0 0 0
cpu1 21656 0 19915 25799 332 0 8328 0 0 0
intr 456 0 0`;

describe("core idle shares", () => {
  test("per-CPU idle and total ticks are read from /proc/stat's cpuN lines only", () => {
    const t = parseCoreTicks(before);
    expect(t.idle).toEqual([20300, 26081]);
    expect(t.total).toEqual([67300, 75080]);
  });

  test("the idle share is idle ticks over all ticks of that CPU in the window", () => {
    const a = parseCoreTicks(before), b = parseCoreTicks(after);
    expect(idleShare(a, b, 0)).toBe(0); // 500 ticks, none idle: the load core saturated
    expect(idleShare(a, b, 1)).toBeCloseTo(50 / 950, 6);
    expect(Number.isNaN(idleShare(a, b, 2))).toBe(true); // no such CPU
    expect(Number.isNaN(idleShare(a, a, 0))).toBe(true); // no time passed
  });

  test("a window is load-bound only when the server's core had spare time and the load core none", () => {
    expect(loadBound(0.19, 0.02)).toBe(true);
    expect(loadBound(0.01, 0.0)).toBe(false); // the server saturated: its rps is its own
    expect(loadBound(0.19, 0.15)).toBe(false); // neither saturated: latency-bound, not the load core
    expect(idleCell(0.19, 0.004)).toBe("19 / 0");
    expect(idleCell(Number.NaN, 0.1)).toBe("? / 10");
  });

  test("this machine's /proc/stat reads (Linux): every CPU has ticks that only grow", async () => {
    const a = coreTicks();
    await Bun.sleep(30);
    const b = coreTicks();
    expect(a.total.length).toBeGreaterThan(0);
    for (let i = 0; i < a.total.length; i++) expect(b.total[i]).toBeGreaterThanOrEqual(a.total[i]);
  });
});
