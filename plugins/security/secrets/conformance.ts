/**
 * The SecretStore conformance suite: the same cases run against every implementation
 * (embedded.test.ts, vault.test.ts), so both behave alike behind the plugin's endpoints.
 */
import { describe, expect, test } from "bun:test";
import { CasMismatchError, type SecretStore } from "./store";

export function secretStoreConformance(name: string, make: () => Promise<{ store: SecretStore; cleanup(): Promise<void> }>) {
  describe(`SecretStore conformance: ${name}`, () => {
    const run = (title: string, fn: (s: SecretStore) => Promise<void>) =>
      test(title, async () => {
        const { store, cleanup } = await make();
        try { await fn(store); } finally { await cleanup(); }
      });

    run("put then get returns the data and version 1", async (s) => {
      const meta = await s.put("services/a/db", { password: "p1" });
      expect(meta.version).toBe(1);
      const got = await s.get("services/a/db");
      expect(got?.data).toEqual({ password: "p1" });
      expect(got?.metadata.version).toBe(1);
    });

    run("versions accumulate and old versions stay readable", async (s) => {
      await s.put("k", { v: 1 });
      await s.put("k", { v: 2 });
      expect((await s.get("k"))?.data).toEqual({ v: 2 });
      expect((await s.get("k", 1))?.data).toEqual({ v: 1 });
      expect(await s.get("k", 9)).toBeUndefined();
      const m = await s.metadata("k");
      expect(m?.current_version).toBe(2);
      expect(Object.keys(m!.versions).sort()).toEqual(["1", "2"]);
    });

    run("cas 0 writes only when absent; cas n only when current is n", async (s) => {
      await s.put("c", { v: 1 }, { cas: 0 });
      await expect(s.put("c", { v: 2 }, { cas: 0 })).rejects.toBeInstanceOf(CasMismatchError);
      await expect(s.put("c", { v: 2 }, { cas: 5 })).rejects.toBeInstanceOf(CasMismatchError);
      const ok = await s.put("c", { v: 2 }, { cas: 1 });
      expect(ok.version).toBe(2);
      expect((await s.get("c"))?.data).toEqual({ v: 2 });
    });

    run("missing paths read as undefined, list as empty", async (s) => {
      expect(await s.get("nope")).toBeUndefined();
      expect(await s.metadata("nope")).toBeUndefined();
      expect(await s.list("nope/")).toEqual([]);
      expect(await s.delete("nope")).toBe(false);
    });

    run("delete hides the latest version; the earlier one is still readable", async (s) => {
      await s.put("d", { v: 1 });
      await s.put("d", { v: 2 });
      expect(await s.delete("d")).toBe(true);
      expect(await s.get("d")).toBeUndefined();
      expect((await s.get("d", 1))?.data).toEqual({ v: 1 });
      const m = await s.metadata("d");
      expect(m?.versions["2"].deletion_time).not.toBe("");
    });

    run("deleteAll removes every version and the metadata", async (s) => {
      await s.put("e", { v: 1 });
      expect(await s.deleteAll("e")).toBe(true);
      expect(await s.metadata("e")).toBeUndefined();
      expect(await s.get("e", 1)).toBeUndefined();
    });

    run("list shows keys and sub-folders directly under a prefix", async (s) => {
      await s.put("services/a/x", { v: 1 });
      await s.put("services/a/y/z", { v: 1 });
      await s.put("services/b/x", { v: 1 });
      expect(await s.list("services/a/")).toEqual(["x", "y/"]);
      expect(await s.list("services/")).toEqual(["a/", "b/"]);
    });

    run("values round-trip nested JSON and unicode exactly", async (s) => {
      const data = { n: 1.5, ok: true, nested: { list: [1, "two", null] }, text: "grüße ✓ \"quoted\"" };
      await s.put("u", data);
      expect((await s.get("u"))?.data).toEqual(data);
    });

    run("health answers ok", async (s) => {
      expect((await s.health()).ok).toBe(true);
    });
  });
}
