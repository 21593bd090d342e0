import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSealBox } from "../crypto-box";
import { createEmbeddedStore } from "./embedded";
import { secretStoreConformance } from "./conformance";

secretStoreConformance("embedded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-embedded-"));
  const store = createEmbeddedStore({ dir, box: createSealBox(randomBytes(32), "created"), maxVersions: 10 });
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

test("embedded: survives a restart, keeps no plaintext on disk, refuses a wrong key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-embedded-"));
  const kek = randomBytes(32);
  const a = createEmbeddedStore({ dir, box: createSealBox(kek, "created"), maxVersions: 3 });
  for (let i = 1; i <= 5; i++) await a.put("services/orders/db", { password: `hunter-${i}-plaintext` });
  const b = createEmbeddedStore({ dir, box: createSealBox(kek, "file"), maxVersions: 3 });
  expect((await b.get("services/orders/db"))?.data).toEqual({ password: "hunter-5-plaintext" });
  // max_versions: only the last three are kept.
  expect(await b.get("services/orders/db", 2)).toBeUndefined();
  expect((await b.get("services/orders/db", 3))?.data).toEqual({ password: "hunter-3-plaintext" });
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), "utf8");
    expect(text).not.toContain("hunter");
    expect(text).not.toContain("orders");
  }
  expect(() => createEmbeddedStore({ dir, box: createSealBox(randomBytes(32), "file"), maxVersions: 3 })).toThrow();
  rmSync(dir, { recursive: true, force: true });
});
