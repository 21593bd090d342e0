import { test, expect } from "bun:test";
import { matches, parseQuery } from "./query";

const q = (s: string) => parseQuery(new URLSearchParams(s), 1000);

test("filters: minimum priority, rule, service, time range; folded by default", () => {
  const x = { rule: "r", priority: "error" as const, service: "svc", time: 2000 };
  expect(q("").folded).toBe(true);
  expect(matches(q("priority=warning"), x)).toBe(true);
  expect(matches(q("priority=critical"), x)).toBe(false);
  expect(matches(q("rule=r&service=svc&since=1000&until=3000"), x)).toBe(true);
  expect(matches(q("service=other"), x)).toBe(false);
  expect(matches(q("since=1970-01-01T00:00:03Z"), x)).toBe(false);
});

test("bad parameters are coded errors naming the parameter", () => {
  for (const [s, where] of [["folded=maybe", "/query/folded"], ["limit=0", "/query/limit"], ["limit=1001", "/query/limit"], ["since=soon", "/query/since"], ["x=1", "/query/x"]]) {
    expect(() => q(s)).toThrow();
    try { q(s); } catch (e: any) { expect(e.code).toBe("FALCO_ERR_BAD_QUERY"); expect(e.where).toBe(where); }
  }
});
