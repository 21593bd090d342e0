import { describe, expect, test } from "bun:test";
import { createClassifier, DEFAULT_FAILURE_POLICY, expandStatusPattern } from "./classify";
import { FAILURE, IGNORED, SUCCESS } from "./state-machine";

describe("outcome classification", () => {
  const d = createClassifier(DEFAULT_FAILURE_POLICY);
  test("defaults: 5xx and transport errors fail; 2xx, 3xx and 4xx succeed", () => {
    expect([200, 204, 301, 400, 404, 429, 499].map((status) => d({ service: "s", status, latencyMs: 1 }))).toEqual(Array(7).fill(SUCCESS));
    expect([500, 502, 503, 504, 599].map((status) => d({ service: "s", status, latencyMs: 1 }))).toEqual(Array(5).fill(FAILURE));
    for (const error of ["connect", "timeout", "reset", "other"] as const) expect(d({ service: "s", status: 0, latencyMs: 1, error })).toBe(FAILURE);
    expect(d({ service: "s", status: 0, latencyMs: 1 })).toBe(FAILURE); // no response, no reason given
  });
  test("custom: 429 fails, 501 ignored, resets not counted", () => {
    const c = createClassifier({ statuses: ["5xx", "429"], errors: ["connect", "timeout"], ignored: ["501"] });
    expect(c({ service: "s", status: 429, latencyMs: 1 })).toBe(FAILURE);
    expect(c({ service: "s", status: 501, latencyMs: 1 })).toBe(IGNORED);
    expect(c({ service: "s", status: 0, latencyMs: 1, error: "reset" })).toBe(IGNORED);
    expect(c({ service: "s", status: 0, latencyMs: 1, error: "timeout" })).toBe(FAILURE);
  });
  test("a \"client\" outcome (the gateway's caller went away or broke its body off) counts neither way, under any policy", () => {
    const all = createClassifier({ statuses: ["5xx", "4xx"], errors: ["connect", "timeout", "reset", "other"], ignored: [] });
    expect(d({ service: "s", status: 0, latencyMs: 1, error: "client" })).toBe(IGNORED);
    expect(all({ service: "s", status: 0, latencyMs: 1, error: "client" })).toBe(IGNORED);
  });
  test("out-of-range statuses count as an \"other\" transport failure", () => {
    expect(d({ service: "s", status: 700, latencyMs: 1 })).toBe(FAILURE);
  });
  test("patterns", () => {
    expect(expandStatusPattern("5xx")).toHaveLength(100);
    expect(expandStatusPattern("503")).toEqual([503]);
    expect(() => expandStatusPattern("6xx")).toThrow(/status pattern/);
    expect(() => expandStatusPattern("50")).toThrow(/status pattern/);
  });
});
