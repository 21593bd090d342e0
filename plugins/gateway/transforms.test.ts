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

test("a simple program (remove/set/add) compiled to skip + tail gives the same block as the pairs path", async () => {
  const { headerBlock } = await import("./proxy/forward-headers");
  const { compileBlockProgram } = await import("./transforms");
  const parse = (block: string) => { const h = new Headers(); for (const line of block.split("\r\n")) { const c = line.indexOf(":"); if (c > 0) h.append(line.slice(0, c), line.slice(c + 2)); } return Object.fromEntries(h); };
  const f = { clientIp: "10.0.0.1", proto: "http", host: "gw.local", requestId: "rid", traceparent: "00-" + "1".repeat(32) + "-" + "2".repeat(16) + "-01", trustChain: false };
  let seed = 11;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const names = ["a", "b", "c", "x-env"];
  let compared = 0;
  for (let round = 0; round < 300; round++) {
    const h = new Headers({ host: "gw.local", connection: "keep-alive" });
    for (let i = rnd(4); i > 0; i--) h.append(names[rnd(4)], `v${rnd(9)}`);
    const rules = { add: {} as Record<string, string>, set: {} as Record<string, string>, remove: [] as string[], rename: {} as Record<string, string> };
    for (let i = rnd(3); i > 0; i--) rules.add[names[rnd(4)]] = `add${i}`;
    for (let i = rnd(3); i > 0; i--) rules.set[names[rnd(4)]] = `set${i}`;
    for (let i = rnd(2); i > 0; i--) rules.remove.push(names[rnd(4)]);
    const program = compileHeaderRules(rules);
    const simple = compileBlockProgram(program);
    if (!program) continue;
    expect(simple).toBeDefined();
    expect(parse(headerBlock(h, f, false, program, simple))).toEqual(parse(headerBlock(h, f, false, program)));
    compared++;
  }
  expect(compared).toBeGreaterThan(100);
  // Renames, and edits of the forwarding fields, keep the general path.
  expect(compileBlockProgram(compileHeaderRules({ add: {}, set: {}, remove: [], rename: { a: "b" } }))).toBeUndefined();
  expect(compileBlockProgram(compileHeaderRules({ add: {}, set: {}, remove: ["x-request-id"], rename: {} }))).toBeUndefined();
});
