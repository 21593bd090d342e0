import { test, expect } from "bun:test";
import { parsePriority, atLeast, rank } from "./priority";

test("priorities parse in any case, with Falco's aliases, and order low to high", () => {
  expect(parsePriority("Critical")).toBe("critical");
  expect(parsePriority("INFO")).toBe("informational");
  expect(parsePriority("Informational")).toBe("informational");
  expect(parsePriority("severe")).toBeUndefined();
  expect(parsePriority(3)).toBeUndefined();
  expect(rank("debug")).toBeLessThan(rank("emergency"));
  expect(atLeast("error", "warning")).toBe(true);
  expect(atLeast("notice", "warning")).toBe(false);
});
