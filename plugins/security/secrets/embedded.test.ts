import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSealBox, openOrExplain } from "../crypto-box";
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

test("embedded: a destroyed version's data leaves the sealed file; soft-deleted data stays (sealed) for undelete; both survive a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-embedded-"));
  const box = createSealBox(randomBytes(32), "created");
  const a = createEmbeddedStore({ dir, box, maxVersions: 10 });
  await a.put("services/x/db", { password: "destroy-me-1" });
  await a.put("services/x/db", { password: "keep-deleted-2" });
  await a.put("services/x/db", { password: "live-3" });
  await a.delete("services/x/db", [2]);
  await a.destroy("services/x/db", [1]);
  const [file] = readdirSync(dir);
  const plain = openOrExplain(box, readFileSync(join(dir, file), "utf8"), `secret:${file.slice(0, -4)}`, "test").toString("utf8");
  expect(plain).not.toContain("destroy-me-1");
  expect(plain).toContain("keep-deleted-2");
  const b = createEmbeddedStore({ dir, box, maxVersions: 10 });
  expect((await b.get("services/x/db", 1))?.metadata.destroyed).toBe(true);
  expect((await b.get("services/x/db", 2))?.data).toBeNull();
  expect(await b.undelete("services/x/db", [1, 2])).toBe(true);
  expect((await b.get("services/x/db", 1))?.data).toBeNull();
  expect((await b.get("services/x/db", 2))?.data).toEqual({ password: "keep-deleted-2" });
  const c = createEmbeddedStore({ dir, box, maxVersions: 10 });
  expect((await c.get("services/x/db", 2))?.data).toEqual({ password: "keep-deleted-2" });
  rmSync(dir, { recursive: true, force: true });
});

test("embedded peek: one frozen lookup per unchanged version; every put, delete, undelete and destroy makes a new one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sec-embedded-"));
  const store = createEmbeddedStore({ dir, box: createSealBox(randomBytes(32), "created"), maxVersions: 10 });
  const path = "services/orders/db";
  expect(store.peek!(path)).toBeUndefined();
  await store.put(path, { password: "one" });
  const first = store.peek!(path)!;
  expect(Object.isFrozen(first) && Object.isFrozen(first.metadata)).toBe(true);
  expect(store.peek!(path)).toBe(first);
  expect(store.peek!(path, 1)).toBe(first);
  expect(await store.get(path)).toBe(first); // get() answers the same lookup
  const seen = [first];
  const expectNew = (data: unknown, deleted: boolean, destroyed = false) => {
    const got = store.peek!(path, 1)!;
    for (const old of seen) expect(got).not.toBe(old);
    seen.push(got);
    expect(got.data).toEqual(data as Record<string, unknown>);
    expect(got.metadata.deletion_time !== "").toBe(deleted);
    expect(got.metadata.destroyed).toBe(destroyed);
  };
  await store.delete(path, [1]);
  expectNew(null, true);
  await store.undelete(path, [1]);
  expectNew({ password: "one" }, false);
  await store.destroy(path, [1]);
  expectNew(null, false, true);
  await store.put(path, { password: "two" });
  expect(store.peek!(path)?.data).toEqual({ password: "two" });
  expect(store.peek!(path)).toBe(store.peek!(path, 2));
  await store.deleteAll(path);
  expect(store.peek!(path)).toBeUndefined();
  rmSync(dir, { recursive: true, force: true });
});
