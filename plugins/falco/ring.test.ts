import { test, expect } from "bun:test";
import { Ring } from "./ring";

test("a ring keeps the newest `cap` items, newest first, and counts everything pushed", () => {
  const r = new Ring<number>(3);
  for (let i = 1; i <= 5; i++) r.push(i);
  expect([...r.newest()]).toEqual([5, 4, 3]);
  expect(r.size).toBe(3);
  expect(r.total).toBe(5);
});
