/** The request program over the serialised block's pairs must give what it gives over a Headers. */
import { expect, test } from "bun:test";
import { applyHeaderProgram, applyHeaderProgramToPairs, blockSafe, compileHeaderRules } from "./transforms";

const NAMES = ["a", "b", "c", "x-request-id", "forwarded"];

function viaHeaders(pairs: string[], program: ReturnType<typeof compileHeaderRules>): Record<string, string> {
  const h = new Headers();
  for (let i = 0; i < pairs.length; i += 2) h.append(pairs[i], pairs[i + 1]);
  applyHeaderProgram(h, program!);
  return Object.fromEntries(h);
}

function viaPairs(pairs: string[], program: ReturnType<typeof compileHeaderRules>): Record<string, string> {
  const out = applyHeaderProgramToPairs([...pairs], program!);
  const h = new Headers();
  for (let i = 0; i < out.length; i += 2) h.append(out[i], out[i + 1]);
  return Object.fromEntries(h);
}

test("pairs and Headers agree on 500 random programs and header lists", () => {
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const pick = () => NAMES[rnd(NAMES.length)];
  for (let round = 0; round < 500; round++) {
    const pairs: string[] = [];
    for (let i = rnd(5); i > 0; i--) pairs.push(pick(), `v${rnd(9)}`);
    const rules = { add: {} as Record<string, string>, set: {} as Record<string, string>, remove: [] as string[], rename: {} as Record<string, string> };
    for (let i = rnd(3); i > 0; i--) rules.add[pick()] = `add${i}`;
    for (let i = rnd(3); i > 0; i--) rules.set[pick()] = `set${i}`;
    for (let i = rnd(2); i > 0; i--) rules.remove.push(pick());
    for (let i = rnd(2); i > 0; i--) rules.rename[pick()] = pick();
    const program = compileHeaderRules(rules);
    if (!program) continue;
    expect(viaPairs(pairs, program)).toEqual(viaHeaders(pairs, program));
  }
});

test("programs touching framing fields are not applied in the block", () => {
  expect(blockSafe(compileHeaderRules({ add: {}, set: { "x-env": "1" }, remove: [], rename: {} })!)).toBe(true);
  expect(blockSafe(compileHeaderRules({ add: {}, set: { Host: "h" }, remove: [], rename: {} })!)).toBe(false);
  expect(blockSafe(compileHeaderRules({ add: {}, set: {}, remove: ["content-length"], rename: {} })!)).toBe(false);
  expect(blockSafe(compileHeaderRules({ add: {}, set: {}, remove: [], rename: { "x-a": "transfer-encoding" } })!)).toBe(false);
});
