/**
 * The batch writer (encode.ts) makes each line byte for byte as sealLine does (same text, same hash,
 * same chain), for any fields: escapes, non-ASCII, lone surrogates, key order, undefined fields, keys
 * the line sets itself, and a chain resumed from a damaged last line's odd hash.
 */
import { expect, test } from "bun:test";
import { GENESIS, sealLine, verifyChain, type AuditFields } from "./chain";
import { fieldsJson, LineSealer } from "./encode";

const ts = "2026-12-06T10:00:00.000Z";
const cases: AuditFields[] = [
  { who: "admin", action: "secret.read", target: "services/bench/db", outcome: "ok", request_id: "r-1", value_hmac: undefined, versions: undefined, reason: "version 1" },
  { who: "service:ü", action: "secret.write", target: 'a "quoted"\\path\n\ttab', outcome: "denied", reason: "\u0001\u001f control" },
  { who: "x", action: "y", outcome: "error", reason: "lone \ud800 surrogate and a pair 😀 and \u2028" },
  { outcome: "ok", action: "reordered", who: "z", versions: [1, 2, 3] },
  { who: "w", action: "odd", outcome: "ok", ...{ extra: { nested: "é" }, n: 5, fn: () => 1 } } as unknown as AuditFields,
  { who: "w", action: "reserved", outcome: "ok", ...{ seq: 99, prev: "forged" } } as unknown as AuditFields,
  {} as AuditFields,
];

function viaSealLine(prev: string, list: AuditFields[]): string {
  let text = "";
  list.forEach((f, i) => {
    const { line, hash } = sealLine(i + 1, prev, f, ts);
    text += line + "\n";
    prev = hash;
  });
  return text;
}

function viaSealer(prev: string, list: AuditFields[]): { text: string; last: string } {
  const sealer = new LineSealer(prev);
  const out = Buffer.alloc(1 << 16);
  let at = 0;
  list.forEach((f, i) => {
    const json = fieldsJson(f);
    if (json === undefined) at += out.write(sealer.slowLine(i + 1, ts, f) + "\n", at);
    else at = sealer.line(i + 1, ts, json, out, at);
  });
  return { text: out.toString("utf8", 0, at), last: sealer.prev };
}

test("lines are byte for byte sealLine's, chained the same", () => {
  for (const prev of [GENESIS, "not-a-hash \u00e9 \"odd\"", "f".repeat(5000)]) {
    const want = viaSealLine(prev, cases);
    const got = viaSealer(prev, cases);
    expect(got.text).toBe(want);
    const lines = want.split("\n").filter(Boolean);
    expect(got.last).toBe((JSON.parse(lines[lines.length - 1]) as { hash: string }).hash);
  }
  const plain = cases.filter((f) => fieldsJson(f) !== undefined);
  expect(verifyChain(viaSealer(GENESIS, plain).text)).toMatchObject({ ok: true, lines: plain.length });
});

test("a long line grows the scratch buffer and still matches", () => {
  const long: AuditFields[] = [{ who: "a", action: "b", outcome: "ok", reason: "é".repeat(10_000) }, { who: "a", action: "c", outcome: "ok" }];
  expect(viaSealer(GENESIS, long).text).toBe(viaSealLine(GENESIS, long));
});

test("a line of the same byte length after the scratch buffer grew is hashed from the new buffer", () => {
  // Same bytes (é is 2 in UTF-8), but the ASCII line's size bound outgrows the first buffer.
  const same: AuditFields[] = [{ who: "a", action: "b", outcome: "ok", reason: "é".repeat(650) }, { who: "a", action: "b", outcome: "ok", reason: "a".repeat(1300) }];
  expect(viaSealer(GENESIS, same).text).toBe(viaSealLine(GENESIS, same));
});

test("fieldsJson leaves lines with the chain's own keys to sealLine", () => {
  expect(fieldsJson({ who: "a", action: "b", outcome: "ok" })).toBe(`{"who":"a","action":"b","outcome":"ok"}`);
  expect(fieldsJson({ who: "a", action: "b", outcome: "ok", ...{ hash: "x" } } as AuditFields)).toBeUndefined();
});
