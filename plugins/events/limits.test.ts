/** The depth scan and walk of limits.ts: exact on tricky strings, linear on hostile input, never recursive. */
import { describe, test, expect } from "bun:test";
import { jsonDepth, parseJson, withinDepth } from "./limits";
import { CodedError } from "../../src/core/errors";

const nest = (n: number, open = "[", close = "]", inner = "1") => open.repeat(n) + inner + close.repeat(n);

describe("jsonDepth", () => {
  test("counts arrays, objects and mixed nesting; scalars are depth 0", () => {
    expect(jsonDepth("1", 32)).toBe(0);
    expect(jsonDepth('"x"', 32)).toBe(0);
    expect(jsonDepth("[]", 32)).toBe(1);
    expect(jsonDepth(nest(7), 32)).toBe(7);
    expect(jsonDepth(nest(5, '{"a":', "}"), 32)).toBe(5);
    expect(jsonDepth('{"a":[{"b":[1,{"c":{}}]}],"d":[[[]]]}', 32)).toBe(6);
    for (let d = 1; d <= 40; d++) expect(jsonDepth(nest(d), 64)).toBe(d);
  });

  test("brackets inside strings do not count, whatever the escaping", () => {
    expect(jsonDepth('["[[[[{{{{"]', 32)).toBe(1);
    expect(jsonDepth('["\\"[[[["]', 32)).toBe(1); // escaped quote: still inside the string
    expect(jsonDepth('["\\\\",[[1]]]', 32)).toBe(3); // an escaped backslash ends before the quote: the string ends
    expect(jsonDepth('["\\\\\\"[[[", [1]]', 32)).toBe(2); // \\ \" : still inside, then a real end
    expect(jsonDepth('{"k[[[":{"v":"}}}]]]"}}', 32)).toBe(2);
    expect(jsonDepth('["\u00e9[", "\ud83d\ude00[[", [[]]]', 32)).toBe(3);
  });

  test("stops at limit + 1 and agrees with a parse-and-walk on random documents", () => {
    expect(jsonDepth(nest(100_000), 32)).toBe(33);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const gen = (d: number): unknown => {
      if (d === 0 || rnd() < 0.2) return rnd() < 0.5 ? "s[{\"\\" : 1;
      return rnd() < 0.5 ? [gen(d - 1), gen(d - 1)] : { "a\"[": gen(d - 1), b: gen(d - 1) };
    };
    for (let i = 0; i < 300; i++) {
      const v = gen(12);
      const text = JSON.stringify(v);
      const d = jsonDepth(text, 64);
      expect(withinDepth(v, d)).toBe(true);
      if (d > 0) expect(withinDepth(v, d - 1)).toBe(false);
    }
  });

  test("linear on hostile input: 1M brackets, 1M backslashes, a million tiny strings", () => {
    const cases = [
      "[".repeat(1 << 20),
      '["' + "\\".repeat(1 << 20) + '"]',
      '["' + '\\"'.repeat(1 << 19) + '"]',
      "[" + '"",'.repeat(1 << 18) + '""]',
      '{"a":' + '"\\\\\\"",'.repeat(1 << 17) + "1}",
    ];
    for (const text of cases) {
      const t0 = performance.now();
      jsonDepth(text, 32);
      expect(performance.now() - t0).toBeLessThan(250);
    }
  });
});

describe("withinDepth", () => {
  test("counts the value as level `start`; no recursion at 200,000 levels", () => {
    expect(withinDepth(1, 0)).toBe(true);
    expect(withinDepth({ a: { b: [1] } }, 3)).toBe(true);
    expect(withinDepth({ a: { b: [1] } }, 2)).toBe(false);
    expect(withinDepth({ a: { b: [1] } }, 3, 2)).toBe(false);
    const deep = JSON.parse(nest(200_000)); // JSC's parser is iterative; the walk must be too
    expect(withinDepth(deep, 32)).toBe(false);
  });
});

describe("parseJson", () => {
  const code = (f: () => unknown) => { try { f(); return "ok"; } catch (e) { return (e as CodedError).code; } };
  test("too deep before parsing, garbage as a parse error, the rest parsed", () => {
    expect(code(() => parseJson(nest(33), 32, 32))).toBe("EV_ERR_TOO_DEEP");
    expect(code(() => parseJson(nest(32), 32, 32))).toBe("ok");
    expect(code(() => parseJson("[".repeat(40), 32, 32))).toBe("EV_ERR_TOO_DEEP"); // unbalanced, still refused for depth
    expect(code(() => parseJson("[[[", 32, 32))).toBe("EV_ERR_PARSE");
    expect(code(() => parseJson("", 32, 32))).toBe("EV_ERR_PARSE");
    expect(parseJson('{"a":[1]}', 32, 32)).toEqual({ value: { a: [1] }, depth: 2 });
  });

  test("a parser that runs out of stack (RangeError) is reported as too deep, not as a 500", () => {
    const real = JSON.parse;
    JSON.parse = () => { throw new RangeError("Maximum call stack size exceeded."); };
    try {
      expect(code(() => parseJson("[1]", 32, 32))).toBe("EV_ERR_TOO_DEEP");
    } finally { JSON.parse = real; }
  });
});
