/** Pooled random records: each id a slice of one string, refilled every 64, of the length its format writes. */
import { expect, test } from "bun:test";
import { pooledRecords, writeHex } from "./random-text";

test("records are the format's text, fresh random bytes each, across refills", () => {
  const next = pooledRecords(10, 4, (text, at, random, from) => { text[at++] = 120; text[at++] = 45; return writeHex(text, at, random, from, from + 4); });
  const seen = new Set<string>();
  for (let i = 0; i < 640; i++) { const r = next(); expect(r).toMatch(/^x-[0-9a-f]{8}$/); seen.add(r); }
  expect(seen.size).toBeGreaterThan(630); // 32 random bits each: a repeat among 640 is very unlikely, a broken fill repeats at once
});

test("a format that writes the wrong length is refused at the first fill, not sliced out of step", () => {
  const next = pooledRecords(10, 4, (text, at, random, from) => writeHex(text, at, random, from, from + 4)); // 8 characters, not 10
  expect(() => next()).toThrow(/wrong length/);
});

test("writeHex writes two lower-case digits per byte and returns the end", () => {
  const text = Buffer.alloc(8);
  expect(writeHex(text, 1, new Uint8Array([0x00, 0xab, 0xf0]), 0, 3)).toBe(7);
  expect(text.toString("latin1", 1, 7)).toBe("00abf0");
});
