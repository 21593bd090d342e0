/** The credential registry's journal: survives restarts, tolerates a torn last line, compacts, keeps keys sealed. */
import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateCa } from "../../../src/lib/pki/ca";
import { createSealBox } from "../crypto-box";
import { createCredentialRegistry } from "./credential-store";

const settings = { trustDomain: "td", ttlMs: 3_600_000, altNames: ["{service}"], crlValidityMs: 3_600_000 };

test("records survive a restart, a torn last line is skipped, the journal is compacted and holds no plaintext key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-reg-"));
  const ca = await loadOrCreateCa({ dir });
  const box = createSealBox(randomBytes(32), "created");
  const a = createCredentialRegistry(ca, dir, box);
  const first = await a.issue("orders", settings);
  for (let i = 0; i < 40; i++) await a.issue("payments", settings);
  const second = await a.issue("orders", settings);
  const journal = join(dir, "credentials.journal");
  const text = readFileSync(journal, "utf8");
  expect(text).not.toContain("PRIVATE KEY");
  expect(text).not.toContain(second.private_key.split("\n")[1]);
  appendFileSync(journal, "orders v1.AAAAtorn"); // a crash mid-append
  const b = createCredentialRegistry(ca, dir, box);
  expect(b.current("orders")?.serial).toBe(second.serial);
  expect(b.previous("orders")?.serial).toBe(first.serial);
  expect(b.current("orders")?.private_key).toBe(second.private_key);
  // Compacted: one line per service.
  expect(readFileSync(journal, "utf8").trim().split("\n").length).toBe(2);
  // Revocation survives too, and the revoked certificate is no longer current.
  b.revoke("orders");
  const c = createCredentialRegistry(ca, dir, box);
  expect(c.isRevoked(second.serial)).toBe(true);
  expect(c.current("orders")).toBeUndefined();
});

test("a different KEK is refused with an explanation, and the journal is left untouched", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-reg-"));
  const ca = await loadOrCreateCa({ dir });
  const a = createCredentialRegistry(ca, dir, createSealBox(randomBytes(32), "created"));
  await a.issue("orders", settings);
  const before = readFileSync(join(dir, "credentials.journal"), "utf8");
  expect(() => createCredentialRegistry(ca, dir, createSealBox(randomBytes(32), "env"))).toThrow(/wrong key-encryption key/);
  expect(readFileSync(join(dir, "credentials.journal"), "utf8")).toBe(before);
});
