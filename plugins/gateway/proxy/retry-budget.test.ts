/** The retry budget (pure): a ratio of live traffic plus a floor, over a sliding window of one-second buckets. */
import { expect, test } from "bun:test";
import { RetryBudget } from "./retry-budget";

test("retries are capped at ratio × requests + floor × window", () => {
  const b = new RetryBudget({ ratio: 0.1, min_per_second: 1, window: 10_000 });
  for (let i = 0; i < 100; i++) b.recordRequest(5_000);
  let granted = 0;
  for (let i = 0; i < 100; i++) if (b.tryRetry(5_000)) granted++;
  expect(granted).toBe(20); // 0.1 × 100 + 1 × 10
});

test("with no traffic only the floor applies; 0 floor and 0 ratio never retry", () => {
  expect(new RetryBudget({ ratio: 0.5, min_per_second: 0, window: 1000 }).tryRetry(0)).toBe(false);
  const b = new RetryBudget({ ratio: 0, min_per_second: 2, window: 1000 });
  expect([b.tryRetry(0), b.tryRetry(0), b.tryRetry(0)]).toEqual([true, true, false]);
});

test("old traffic and old retries leave the window", () => {
  const b = new RetryBudget({ ratio: 0.5, min_per_second: 0, window: 2_000 });
  for (let i = 0; i < 10; i++) b.recordRequest(0);
  for (let i = 0; i < 5; i++) expect(b.tryRetry(500)).toBe(true);
  expect(b.tryRetry(500)).toBe(false);
  // Two seconds later the window has forgotten both the requests and the retries.
  expect(b.snapshot()).toEqual({ requests: 10, retries: 5, allowed: 5 });
  expect(b.tryRetry(2_500)).toBe(false);
  expect(b.snapshot().requests).toBe(0);
  for (let i = 0; i < 4; i++) b.recordRequest(2_600);
  expect([b.tryRetry(2_600), b.tryRetry(2_600), b.tryRetry(2_600)]).toEqual([true, true, false]);
});
