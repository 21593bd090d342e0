import { describe, expect, test } from "bun:test";
import { CountWindow, TimeWindow, FLAG_FAILURE, FLAG_SLOW } from "./sliding-window";

const BOTH = FLAG_FAILURE | FLAG_SLOW;

describe("CountWindow", () => {
  test("size 1 keeps only the last call", () => {
    const w = new CountWindow(1);
    w.record(BOTH);
    expect([w.calls(), w.failures(), w.slow()]).toEqual([1, 1, 1]);
    w.record(0);
    expect([w.calls(), w.failures(), w.slow()]).toEqual([1, 0, 0]);
  });
  test("totals stay exact over many wraps", () => {
    const w = new CountWindow(7);
    const all: number[] = [];
    for (let i = 0; i < 1000; i++) { const f = (i * 7919) % 5 === 0 ? FLAG_FAILURE : (i % 3 === 0 ? FLAG_SLOW : 0); all.push(f); w.record(f); }
    const last = all.slice(-7);
    expect(w.calls()).toBe(7);
    expect(w.failures()).toBe(last.filter((f) => f & FLAG_FAILURE).length);
    expect(w.slow()).toBe(last.filter((f) => f & FLAG_SLOW).length);
    w.clear();
    expect([w.calls(), w.failures(), w.slow()]).toEqual([0, 0, 0]);
  });
  test("refuses a size that is not a positive integer", () => {
    for (const n of [0, -1, 1.5, NaN]) expect(() => new CountWindow(n)).toThrow(RangeError);
  });
});

describe("TimeWindow", () => {
  test("a jump longer than the window empties it; a shorter one drops only expired seconds", () => {
    const w = new TimeWindow(3);
    w.record(FLAG_FAILURE, 10_000); // second 10
    w.record(0, 11_500);            // second 11
    w.record(FLAG_SLOW, 12_999);    // second 12
    expect([w.calls(12_999), w.failures(12_999), w.slow(12_999)]).toEqual([3, 1, 1]);
    expect([w.calls(13_000), w.failures(13_000)]).toEqual([2, 0]); // second 10 left
    expect(w.calls(14_000)).toBe(1);
    expect(w.calls(100_000)).toBe(0);
    w.record(BOTH, 100_000);
    expect([w.calls(100_500), w.failures(100_500), w.slow(100_500)]).toEqual([1, 1, 1]);
  });
  test("many calls in one second share a bucket", () => {
    const w = new TimeWindow(1);
    for (let i = 0; i < 500; i++) w.record(i % 2 ? FLAG_FAILURE : 0, 5000 + i);
    expect([w.calls(5999), w.failures(5999)]).toEqual([500, 250]);
    expect(w.calls(6000)).toBe(0);
  });
  test("refuses a size that is not a positive integer", () => {
    expect(() => new TimeWindow(0)).toThrow(RangeError);
  });
});
