/** Pooled random UUIDs: the version 4 shape (version and variant bits set), none repeating across refills. */
import { expect, test } from "bun:test";
import { newUuid } from "./uuid-pool";

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("every id is a lower-case version 4 UUID and none repeats over many refills", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) { // ~78 refills of 64
    const id = newUuid();
    expect(id).toMatch(V4);
    seen.add(id);
  }
  expect(seen.size).toBe(5000);
});

test("the random nibbles are spread (not a counter or a fixed pattern)", () => {
  const counts = new Array(16).fill(0);
  for (let i = 0; i < 4000; i++) for (const ch of newUuid().slice(0, 8)) counts[parseInt(ch, 16)]++;
  // 32,000 nibbles: each value ~2,000 expected; a broken fill would leave some at 0 or pile on one.
  for (const c of counts) { expect(c).toBeGreaterThan(1500); expect(c).toBeLessThan(2500); }
});
