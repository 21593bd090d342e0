/** The path normaliser alone: what is decoded, resolved, merged, kept, and refused. */
import { describe, expect, test } from "bun:test";
import { normalisePath, type PathFault } from "./path-normalise";

const problem = (p: string, mode: "reject" | "keep" = "reject") => {
  const r = normalisePath(p, mode);
  return typeof r === "string" ? `ok:${r}` : (r as PathFault).problem;
};

describe("clean paths come back as the same string", () => {
  for (const p of ["/", "/api/x", "/api/x/", "/a-b_c~d.e/f", "/api/.well", "/a.b/c..d/..e"]) {
    test(p, () => expect(normalisePath(p)).toBe(p));
  }
  test("no copy on the fast path", () => { const p = "/api/users/7/orders"; expect(normalisePath(p) === p).toBe(true); });
});

describe("normalised once", () => {
  const cases: [string, string][] = [
    ["/a//b", "/a/b"], ["//a///b//", "/a/b/"], ["/a/./b", "/a/b"], ["/a/b/..", "/a/"], ["/a/b/../c", "/a/c"],
    ["/a/../../../b", "/b"], ["/..", "/"], ["/.", "/"], ["/a/.", "/a/"], ["//", "/"],
    ["/%41%7a%2D%5f%7E", "/Az-_~"], ["/a%2eb", "/a.b"], ["/%2eweb", "/.web"],
    ["/a%20b", "/a%20b"], ["/a%3Fb", "/a%3Fb"], ["/%252e%252e/x", "/%252e%252e/x"], ["/caf%C3%A9", "/caf%C3%A9"],
    ["/%F0%9F%98%80", "/%F0%9F%98%80"], ["/a%0d%0ab", "/a%0d%0ab"],
  ];
  for (const [p, want] of cases) test(`${p} → ${want}`, () => expect(normalisePath(p)).toBe(want));
});

describe("refused by default", () => {
  const cases: [string, string][] = [
    ["/api/%2e%2e/metrics", "escaped-dot"], ["/api/.%2e/m", "escaped-dot"], ["/api/%2e./m", "escaped-dot"], ["/api/%2E%2E/m", "escaped-dot"],
    ["/api/%2e/m", "escaped-dot"], ["/api/%2E", "escaped-dot"], ["/api/%2e%2E", "escaped-dot"],
    ["/api/a%2fb", "escaped-slash"], ["/api/a%2Fb", "escaped-slash"], ["/api/a%5cb", "escaped-slash"], ["/api/%5C..%5Cm", "escaped-slash"],
    ["/api/..\\m", "backslash"], ["/api\\x", "backslash"],
    ["/api/a%00b", "nul"], ["/api/%00", "nul"],
    ["/api/%c0%ae%c0%ae/m", "bad-utf8"], ["/api/%c0%af", "bad-utf8"], ["/api/%e0%80%ae", "bad-utf8"], ["/api/%C1%81", "bad-utf8"],
    ["/api/%80", "bad-utf8"], ["/api/%c3", "bad-utf8"], ["/api/%e2%82", "bad-utf8"], ["/api/%ed%a0%80", "bad-utf8"], ["/api/%f4%90%80%80", "bad-utf8"], ["/api/%f8%88%80%80%80", "bad-utf8"],
    ["/api/%zz", "bad-escape"], ["/api/%4", "bad-escape"], ["/api/%", "bad-escape"], ["/api/%%32e", "bad-escape"],
    ["/api/a#b", "bad-char"], ["/api/a b", "bad-char"],
  ];
  for (const [p, want] of cases) test(`${p} → ${want}`, () => expect(problem(p)).toBe(want));
});

describe("path_escapes: keep", () => {
  test("escaped slashes, encoded dots and backslashes are forwarded as sent; the rest is still normalised", () => {
    expect(problem("/api/a%2fb", "keep")).toBe("ok:/api/a%2fb");
    expect(problem("/api//%2e%2e/./m", "keep")).toBe("ok:/api/%2e%2e/m");
    expect(problem("/api/..\\m", "keep")).toBe("ok:/api/..\\m");
    expect(problem("/api/x/../%41", "keep")).toBe("ok:/api/A");
  });
  test("NUL, bad UTF-8 and malformed escapes are refused whatever the route says", () => {
    for (const p of ["/a%00", "/a%c0%ae", "/a%zz", "/a#b"]) expect(problem(p, "keep")).not.toStartWith("ok:");
  });
  test("only the switchable faults can be kept", () => {
    const f = normalisePath("/a/%2e%2e") as PathFault;
    expect(f.switchable).toBe(true);
    expect((normalisePath("/a%00") as PathFault).switchable).toBe(false);
  });
});
