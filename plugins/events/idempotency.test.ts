/** The body digest: key order, spacing and wrappers do not change it; any value, event or order does. */
import { test, expect } from "bun:test";
import { bodyDigest, canonicalJson, decodeRecord, encodeRecord, replayOf } from "./idempotency";

/** A random JSON value (bounded depth), with keys including integer-like ones. */
function rnd(d: number): any {
  const leaves = [1, "a\"b", null, true, 2.5, -7, 1e21, "", "é"];
  if (d > 3 || Math.random() < 0.3) return leaves[Math.floor(Math.random() * leaves.length)];
  if (Math.random() < 0.3) return Array.from({ length: 3 }, () => rnd(d + 1));
  return Object.fromEntries(Array.from({ length: 4 }, () => [Math.random() < 0.2 ? String(Math.floor(Math.random() * 20)) : Math.random().toString(36).slice(2, 4), rnd(d + 1)]));
}
/** The same value with every object's keys inserted in a shuffled order. */
function shuffled(v: any): any {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(shuffled);
  const keys = Object.keys(v).sort(() => Math.random() - 0.5);
  return Object.fromEntries(keys.map((k) => [k, shuffled(v[k])]));
}

test("canonical JSON: 2,000 random values equal their key-shuffled copies, and parse back to the same value", () => {
  for (let i = 0; i < 2000; i++) {
    const v = rnd(0);
    expect(canonicalJson(shuffled(v))).toBe(canonicalJson(v));
    expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
  }
});

test("body digest: one event, {events:[e]} and [e] alike; a value, an event or their order differs", () => {
  const e = { type: "custom.x", payload: { a: 1, b: { c: [1, 2] } } };
  const d = bodyDigest(e);
  expect(bodyDigest({ events: [e] })).toBe(d);
  expect(bodyDigest([e])).toBe(d);
  expect(bodyDigest(JSON.parse(`{"payload":{"b":{"c":[1,2]},"a":1},"type":"custom.x"}`))).toBe(d);
  const others = [
    { ...e, payload: { a: 1, b: { c: [2, 1] } } }, { ...e, payload: { a: "1", b: { c: [1, 2] } } }, { ...e, type: "custom.y" },
    { ...e, source: "s" }, [e, e], { events: [e, { type: "custom.x", payload: {} }] },
  ];
  for (const o of others) expect(bodyDigest(o)).not.toBe(d);
  expect(bodyDigest([e, { type: "custom.x", payload: {} }])).not.toBe(bodyDigest([{ type: "custom.x", payload: {} }, e]));
});

test("records: round trip, legacy records have no digest (never a conflict), another digest is a conflict", () => {
  const r = { d: "abc", e: ["id,with,commas"], s: ["1-1"] };
  expect(decodeRecord(encodeRecord(r))).toEqual(r);
  expect(decodeRecord("1-1,1-2")).toEqual({ d: "", e: [], s: ["1-1", "1-2"] });
  expect(replayOf(decodeRecord("1-1"), "zzz").s).toEqual(["1-1"]);
  expect(replayOf(r, "abc")).toBe(r);
  expect(() => replayOf(r, "abd")).toThrow("different request body");
});
