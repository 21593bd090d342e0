/** The verified-token cache: expiry, bound, and second-chance eviction keeping tokens in use. */
import { describe, expect, test } from "bun:test";
import { TokenCache } from "./token-cache";

describe("TokenCache", () => {
  test("entries expire at validUntil", () => {
    const c = new TokenCache<string>(10);
    c.set("t", "p", 1000);
    expect(c.get("t", 999)).toBe("p");
    expect(c.get("t", 1000)).toBeUndefined();
    expect(c.size).toBe(0);
  });
  test("bounded: never more than capacity", () => {
    const c = new TokenCache<number>(100);
    for (let i = 0; i < 1000; i++) c.set(`t${i}`, i, Number.MAX_SAFE_INTEGER);
    expect(c.size).toBe(100);
    expect(c.get("t999", 0)).toBe(999);
    expect(c.get("t0", 0)).toBeUndefined();
  });
  test("a token in use survives a stream of one-off tokens (second chance)", () => {
    const c = new TokenCache<string>(10);
    c.set("hot", "h", Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 500; i++) {
      expect(c.get("hot", 0)).toBe("h");
      c.set(`cold${i}`, "c", Number.MAX_SAFE_INTEGER);
    }
    expect(c.size).toBe(10);
  });
  test("capacity 0 disables caching", () => {
    const c = new TokenCache<string>(0);
    c.set("t", "p", Number.MAX_SAFE_INTEGER);
    expect(c.get("t", 0)).toBeUndefined();
  });
});
