/**
 * Vault KV v2 version lifecycle through the real node-vault client: soft delete answers 404 with the
 * deletion metadata, undelete restores soft-deleted versions only, destroy makes a version unreadable for
 * ever, metadata lists and removes versions. Every change needs the token and is audited (versions, never
 * values). Run against both backends: the embedded store and Vault (a MOCK Vault: the real one cannot run here).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import vaultFactory from "node-vault";
import { startSecurity, type SecurityHarness } from "./support";
import { startMockVault, type MockVault } from "../secrets/mock-vault";

const CONFIG = `
services:
  orders: {}
  reporting: { secrets_read: [services/orders/shared] }
`;

type Vault = ReturnType<typeof vaultFactory>;
/** The error node-vault rejects with: status and the parsed body. */
async function failure(p: Promise<unknown>): Promise<{ status: number; body: any }> {
  const err = (await p.then(() => { throw new Error("expected the call to fail"); }, (e) => e)) as { response?: { statusCode: number; body: any } };
  if (!err.response) throw err;
  return { status: err.response.statusCode, body: err.response.body };
}

for (const backend of ["embedded", "vault"] as const) {
  describe(`KV v2 versions (${backend === "vault" ? "Vault backend, MOCK Vault" : "embedded store"})`, () => {
    let s: SecurityHarness;
    let mock: MockVault | undefined;
    let admin: Vault;
    const tokenOf = async (svc: string) => (await (await fetch(`${s.base}/tokens/${svc}`, { method: "POST", headers: s.auth(), body: "{}" })).json()).token as string;
    /** Audit entries (flushed by reading them) matching a filter. */
    const auditWhere = async (f: (e: any) => boolean) => {
      const out: any[] = [];
      let after = 0;
      for (let i = 0; i < 100; i++) {
        const page = await (await fetch(`${s.base}/audit?after=${after}&limit=1000`, { headers: s.auth() })).json();
        out.push(...page.entries.filter(f));
        if (page.next === undefined) break;
        after = page.next;
      }
      return out;
    };
    const seed = async (path: string, n: number) => {
      for (let i = 1; i <= n; i++) await admin.write(`secret/data/${path}`, { data: { value: `${path}#${i}-canary` } });
    };

    beforeAll(async () => {
      if (backend === "vault") {
        mock = startMockVault("mock-token");
        s = await startSecurity(`${CONFIG}
secrets:
  vault: { enabled: true, addr: "${mock.url}", token: mock-token, timeout: 2s }
`);
      } else {
        s = await startSecurity(CONFIG);
      }
      admin = vaultFactory({ endpoint: s.base, token: s.admin, noCustomHTTPVerbs: true });
    });
    afterAll(async () => {
      await s?.stop();
      mock?.stop();
    });

    test("a soft-deleted version reads 404 with Vault's deletion metadata (data null); others stay readable", async () => {
      await seed("services/orders/soft", 3);
      await admin.write("secret/delete/services/orders/soft", { versions: [2] });
      const r = await failure(admin.read("secret/data/services/orders/soft?version=2"));
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, wrap_info: null, warnings: null, auth: null });
      expect(r.body.data.data).toBeNull();
      expect(r.body.data.metadata).toMatchObject({ version: 2, destroyed: false, custom_metadata: null });
      expect(Date.parse(r.body.data.metadata.deletion_time)).toBeGreaterThan(Date.now() - 60_000);
      expect(typeof r.body.data.metadata.created_time).toBe("string");
      expect(JSON.stringify(r.body)).not.toContain("canary");
      expect((await admin.read("secret/data/services/orders/soft?version=1")).data.data.value).toBe("services/orders/soft#1-canary");
      expect((await admin.read("secret/data/services/orders/soft")).data.data.value).toBe("services/orders/soft#3-canary");
      // DELETE on data soft-deletes the latest: the same 404 shape for the default read.
      await admin.delete("secret/data/services/orders/soft");
      const latest = await failure(admin.read("secret/data/services/orders/soft"));
      expect(latest.status).toBe(404);
      expect(latest.body.data.metadata).toMatchObject({ version: 3, destroyed: false });
      // A version that never existed: 404 with Vault's empty error list, no metadata.
      const never = await failure(admin.read("secret/data/services/orders/soft?version=9"));
      expect(never).toEqual({ status: 404, body: { errors: [] } });
    });

    test("undelete restores soft-deleted versions with their data; undelete of a never-deleted or absent version is a 204 no-op", async () => {
      await seed("services/orders/undel", 3);
      await admin.write("secret/delete/services/orders/undel", { versions: [1, 3] });
      const res = await admin.write("secret/undelete/services/orders/undel", { versions: [1, 3] });
      expect(res).toBe(""); // node-vault resolves a 204's empty body
      const raw = await fetch(`${s.base}/v1/secret/undelete/services/orders/undel`, { method: "POST", headers: { "x-vault-token": s.admin }, body: '{"versions":[1]}' });
      expect(raw.status).toBe(204);
      expect(await raw.text()).toBe("");
      for (const n of [1, 2, 3]) {
        const r = await admin.read(`secret/data/services/orders/undel?version=${n}`);
        expect(r.data.data.value).toBe(`services/orders/undel#${n}-canary`);
        expect(r.data.metadata).toMatchObject({ version: n, deletion_time: "", destroyed: false });
      }
      const before = (await admin.read("secret/metadata/services/orders/undel")).data;
      await admin.write("secret/undelete/services/orders/undel", { versions: [2] }); // never deleted
      await admin.write("secret/undelete/services/orders/undel", { versions: [40, 41] }); // never existed
      await admin.write("secret/undelete/services/orders/no-such-path", { versions: [1] });
      const after = (await admin.read("secret/metadata/services/orders/undel")).data;
      expect(after.versions).toEqual(before.versions);
      expect(Object.keys(after.versions)).toEqual(["1", "2", "3"]);
      await failure(admin.read("secret/metadata/services/orders/no-such-path")).then((r) => expect(r.status).toBe(404));
    });

    test("destroy: every destroyed version is unreadable for ever (also after undelete), metadata says destroyed, the rest is untouched", async () => {
      await seed("services/orders/gone", 4);
      await admin.write("secret/delete/services/orders/gone", { versions: [2] });
      expect(await admin.destroySecretVersions({ path: "services/orders/gone", versions: [1, 2, 4] })).toBe("");
      const read = (n: number) => failure(admin.read(`secret/data/services/orders/gone?version=${n}`));
      for (const n of [1, 2, 4]) {
        const r = await read(n);
        expect(r.status).toBe(404);
        expect(r.body.data.data).toBeNull();
        expect(r.body.data.metadata).toMatchObject({ version: n, destroyed: true });
      }
      expect((await read(2)).body.data.metadata.deletion_time).not.toBe(""); // deleted first: the time stays
      expect((await read(1)).body.data.metadata.deletion_time).toBe("");
      const latest = await failure(admin.read("secret/data/services/orders/gone"));
      expect(latest.body.data.metadata).toMatchObject({ version: 4, destroyed: true });
      // Undelete and delete cannot bring a destroyed version back, nor change it.
      await admin.write("secret/undelete/services/orders/gone", { versions: [1, 2, 4] });
      await admin.write("secret/delete/services/orders/gone", { versions: [1] });
      for (const n of [1, 2, 4]) expect((await read(n)).body.data.metadata.destroyed).toBe(true);
      expect((await read(1)).body.data.metadata.deletion_time).toBe("");
      expect((await admin.read("secret/data/services/orders/gone?version=3")).data.data.value).toBe("services/orders/gone#3-canary");
      const meta = (await admin.read("secret/metadata/services/orders/gone")).data;
      expect(meta).toMatchObject({ current_version: 4, cas_required: false, delete_version_after: "0s", custom_metadata: null });
      expect(meta.versions["1"]).toEqual({ created_time: expect.any(String), deletion_time: "", destroyed: true });
      expect(meta.versions["2"].destroyed).toBe(true);
      expect(meta.versions["3"]).toEqual({ created_time: expect.any(String), deletion_time: "", destroyed: false });
      // Destroying again, or versions that do not exist: 204, nothing changes.
      await admin.destroySecretVersions({ path: "services/orders/gone", versions: [1, 99] });
      await admin.destroySecretVersions({ path: "services/orders/never-written", versions: [1] });
      expect((await admin.read("secret/metadata/services/orders/gone")).data.versions).toEqual(meta.versions);
      // Our own API says the same, with a coded error and the metadata.
      const own = await fetch(`${s.base}/secrets/services/orders/gone?version=1`, { headers: s.auth() });
      expect(own.status).toBe(404);
      const e = (await own.json()).error;
      expect(e.code).toBe("SEC_ERR_VERSION_DESTROYED");
      expect(e.details.metadata).toMatchObject({ version: 1, destroyed: true });
      const soft = await fetch(`${s.base}/secrets/services/orders/soft?version=2`, { headers: s.auth() });
      expect((await soft.json()).error.code).toBe("SEC_ERR_VERSION_DELETED");
    });

    test("metadata: DELETE removes every version and the metadata (204), then reads are 404 and a second DELETE is 204", async () => {
      await seed("services/orders/meta", 2);
      expect(Object.keys((await admin.read("secret/metadata/services/orders/meta")).data.versions)).toEqual(["1", "2"]);
      expect(await admin.delete("secret/metadata/services/orders/meta")).toBe("");
      for (const p of ["secret/data/services/orders/meta", "secret/data/services/orders/meta?version=1", "secret/metadata/services/orders/meta"]) {
        expect(await failure(admin.read(p))).toEqual({ status: 404, body: { errors: [] } });
      }
      await admin.delete("secret/metadata/services/orders/meta");
      expect((await admin.list("secret/metadata/services/orders")).data.keys).not.toContain("meta");
    });

    test("bad versions bodies are 400 with Vault's error list, nothing changes", async () => {
      await seed("services/orders/bad", 1);
      for (const kind of ["delete", "undelete", "destroy"]) {
        for (const body of [{}, { versions: [] }, { versions: [0] }, { versions: [-1] }, { versions: [1.5] }, { versions: ["x"] }, { versions: [null] }, { versions: { a: 1 } }, { versions: Array(1001).fill(1) }]) {
          const r = await failure(admin.write(`secret/${kind}/services/orders/bad`, body));
          expect(r.status).toBe(400);
          expect(r.body.errors[0]).toMatch(/version/);
        }
        const raw = await fetch(`${s.base}/v1/secret/${kind}/services/orders/bad`, { method: "POST", headers: { "x-vault-token": s.admin }, body: "{not json" });
        expect(raw.status).toBe(400);
        expect((await fetch(`${s.base}/v1/secret/${kind}/services/orders/bad`, { method: "GET", headers: { "x-vault-token": s.admin } })).status).toBe(405);
      }
      // Vault also takes "1,2" and ["1"]: accepted.
      await admin.write("secret/delete/services/orders/bad", { versions: "1" });
      await admin.write("secret/undelete/services/orders/bad", { versions: ["1"] });
      expect((await admin.read("secret/data/services/orders/bad")).data.data.value).toBe("services/orders/bad#1-canary");
    });

    test("a wrong or missing token is refused (403) for undelete and destroy, audited as denied, and nothing changes", async () => {
      await seed("services/orders/guard", 2);
      await admin.write("secret/delete/services/orders/guard", { versions: [1] });
      for (const token of ["wrong", "", `${s.admin}x`, "Bearer " + s.admin]) {
        const v = vaultFactory({ endpoint: s.base, token, noCustomHTTPVerbs: true });
        expect((await failure(v.destroySecretVersions({ path: "services/orders/guard", versions: [2] }))).status).toBe(403);
        expect((await failure(v.write("secret/undelete/services/orders/guard", { versions: [1] }))).status).toBe(403);
        expect((await failure(v.delete("secret/metadata/services/orders/guard"))).status).toBe(403);
      }
      expect((await admin.read("secret/data/services/orders/guard?version=2")).data.data.value).toBe("services/orders/guard#2-canary");
      expect((await failure(admin.read("secret/data/services/orders/guard?version=1"))).body.data.metadata.deletion_time).not.toBe("");
      const denied = await auditWhere((e) => e.outcome === "denied" && e.who === "anonymous" && e.target === "services/orders/guard");
      expect(denied.filter((e) => e.action === "secret.destroy").length).toBe(4);
      expect(denied.filter((e) => e.action === "secret.undelete").length).toBe(4);
      expect(denied.filter((e) => e.action === "secret.metadata").length).toBe(4);
    });

    test("cross-service: another service (even with a read grant) cannot delete, undelete or destroy; the owner can; audited with who and versions, never values", async () => {
      const orders = vaultFactory({ endpoint: s.base, token: await tokenOf("orders"), noCustomHTTPVerbs: true });
      const reporting = vaultFactory({ endpoint: s.base, token: await tokenOf("reporting"), noCustomHTTPVerbs: true });
      await seed("services/orders/shared/db", 3);
      expect((await reporting.read("secret/data/services/orders/shared/db")).data.data.value).toBe("services/orders/shared/db#3-canary");
      for (const call of [
        () => reporting.destroySecretVersions({ path: "services/orders/shared/db", versions: [1] }),
        () => reporting.write("secret/delete/services/orders/shared/db", { versions: [2] }),
        () => reporting.write("secret/undelete/services/orders/shared/db", { versions: [2] }),
        () => reporting.delete("secret/data/services/orders/shared/db"),
        () => reporting.delete("secret/metadata/services/orders/shared/db"),
        () => reporting.destroySecretVersions({ path: "services/orders/shared/..%2Fdb", versions: [1] }),
      ]) {
        expect((await failure(call())).status).toBeOneOf([400, 403]);
      }
      expect(Object.values((await admin.read("secret/metadata/services/orders/shared/db")).data.versions).every((v: any) => !v.destroyed && v.deletion_time === "")).toBe(true);
      await orders.write("secret/delete/services/orders/shared/db", { versions: [2] });
      await orders.write("secret/undelete/services/orders/shared/db", { versions: [2] });
      await orders.destroySecretVersions({ path: "services/orders/shared/db", versions: [1, 3] });
      expect((await failure(reporting.read("secret/data/services/orders/shared/db?version=1"))).body.data.metadata.destroyed).toBe(true);
      const lines = await auditWhere((e) => e.target === "services/orders/shared/db" && /^secret\.(delete|undelete|destroy)$/.test(e.action));
      expect(lines.filter((e) => e.who === "service:reporting").every((e) => e.outcome === "denied")).toBe(true);
      expect(lines.filter((e) => e.who === "service:reporting").length).toBeGreaterThanOrEqual(4);
      const mine = lines.filter((e) => e.who === "service:orders").map((e) => [e.action, e.outcome, e.versions]);
      expect(mine).toEqual([["secret.delete", "ok", [2]], ["secret.undelete", "ok", [2]], ["secret.destroy", "ok", [1, 3]]]);
      const all = JSON.stringify(await auditWhere(() => true));
      expect(all).not.toContain("canary");
    });
  });
}

test("an unknown KV v2 operation name is 405 and audited as secret.other (URLs cannot mint audit actions or metric labels)", async () => {
  const s = await startSecurity("");
  try {
    for (const kind of ["zzz", "x".repeat(300), "config"]) {
      const r = await fetch(`${s.base}/v1/secret/${kind}/services/a/b`, { method: "POST", headers: { "x-vault-token": "wrong" }, body: "{}" });
      expect(r.status).toBe(403);
      const ok = await fetch(`${s.base}/v1/secret/${kind}/services/a/b`, { method: "POST", headers: { "x-vault-token": s.admin }, body: "{}" });
      expect(ok.status).toBe(405);
    }
    const page = await (await fetch(`${s.base}/audit?limit=100`, { headers: s.auth() })).json();
    expect(page.entries.filter((e: any) => e.outcome === "denied").map((e: any) => e.action)).toEqual(["secret.other", "secret.other", "secret.other"]);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).not.toContain("secret.zzz");
  } finally {
    await s.stop();
  }
});
