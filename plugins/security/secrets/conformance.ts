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

    run("delete hides the latest version (data null, deletion_time set); the earlier one is still readable", async (s) => {
      await s.put("d", { v: 1 });
      await s.put("d", { v: 2 });
      expect(await s.delete("d")).toBe(true);
      const gone = await s.get("d");
      expect(gone?.data).toBeNull();
      expect(gone?.metadata).toMatchObject({ version: 2, destroyed: false });
      expect(gone?.metadata.deletion_time).not.toBe("");
      expect((await s.get("d", 1))?.data).toEqual({ v: 1 });
      const m = await s.metadata("d");
      expect(m?.versions["2"].deletion_time).not.toBe("");
      expect(m?.versions["1"].deletion_time).toBe("");
    });

    run("undelete restores soft-deleted versions with their data; a second delete keeps the first deletion_time", async (s) => {
      await s.put("ud", { v: 1 });
      await s.put("ud", { v: 2 });
      expect(await s.delete("ud", [1, 2])).toBe(true);
      const first = (await s.get("ud", 1))!.metadata.deletion_time;
      await Bun.sleep(5);
      expect(await s.delete("ud", [1])).toBe(true);
      expect((await s.get("ud", 1))!.metadata.deletion_time).toBe(first);
      expect(await s.undelete("ud", [1, 2, 77])).toBe(true); // 77 does not exist: skipped
      expect(await s.get("ud", 1)).toMatchObject({ data: { v: 1 }, metadata: { deletion_time: "", destroyed: false } });
      expect((await s.get("ud"))?.data).toEqual({ v: 2 });
      // Undelete of a never-deleted version changes nothing.
      expect(await s.undelete("ud", [2])).toBe(true);
      expect((await s.get("ud"))?.data).toEqual({ v: 2 });
      expect(await s.undelete("nope", [1])).toBe(false);
    });

    run("destroy removes a version's data for ever: unreadable, undelete cannot bring it back, metadata says destroyed", async (s) => {
      for (let i = 1; i <= 3; i++) await s.put("ds", { v: i });
      await s.delete("ds", [2]);
      expect(await s.destroy("ds", [1, 2, 9])).toBe(true);
      for (const n of [1, 2]) {
        const g = await s.get("ds", n);
        expect(g?.data).toBeNull();
        expect(g?.metadata.destroyed).toBe(true);
      }
      expect((await s.get("ds", 2))!.metadata.deletion_time).not.toBe(""); // destroy keeps the deletion time
      expect(await s.undelete("ds", [1, 2])).toBe(true);
      expect((await s.get("ds", 1))?.data).toBeNull();
      expect((await s.get("ds", 2))?.data).toBeNull();
      expect(await s.delete("ds", [1])).toBe(true);
      expect((await s.get("ds", 1))?.metadata).toMatchObject({ destroyed: true, deletion_time: "" }); // delete skips destroyed
      expect((await s.get("ds", 3))?.data).toEqual({ v: 3 });
      const m = await s.metadata("ds");
      expect(m?.versions["1"].destroyed).toBe(true);
      expect(m?.versions["3"].destroyed).toBe(false);
      expect(m?.current_version).toBe(3);
      expect(await s.destroy("nope", [1])).toBe(false);
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
