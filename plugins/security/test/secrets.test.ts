/**
 * Secrets over HTTP: versions, check-and-set, service isolation (403), bad paths/bodies → coded 4xx with
 * nothing written, no plaintext in the data directory, node-vault against the Vault-compatible API, and the
 * same endpoints backed by Vault (a MOCK Vault: the real one cannot run here).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import vaultFactory from "node-vault";
import { startSecurity, startSecurityAt, run, type SecurityHarness } from "./support";
import { startMockVault } from "../secrets/mock-vault";

let s: SecurityHarness;
const PLAINTEXT = "pl41ntext-canary-Zq8";

beforeAll(async () => {
  s = await startSecurity(`
services:
  orders: { scopes: [read] }
  reporting: { secrets_read: [shared] }
secrets:
  max_value_size: 2kb
`);
});
afterAll(async () => { await s?.stop(); });

const url = (p: string) => `${s.base}/secrets/${p}`;
const put = (p: string, body: unknown, token?: string) => fetch(url(p), { method: "PUT", headers: s.auth(token), body: typeof body === "string" ? body : JSON.stringify(body) });
const get = (p: string, token?: string) => fetch(url(p), { headers: s.auth(token) });
const tokenOf = async (svc: string) => (await (await fetch(`${s.base}/tokens/${svc}`, { method: "POST", headers: s.auth(), body: "{}" })).json()).token as string;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}
const storeFiles = () => readdirSync(join(s.dataDir, "security", "secrets")).length;

describe("versions and check-and-set", () => {
  test("PUT writes versions; GET reads latest or ?version=N; ?metadata=true lists versions", async () => {
    expect((await put("services/orders/db", { data: { password: "v1" } })).status).toBe(200);
    const second = await (await put("services/orders/db", { data: { password: "v2" } })).json();
    expect(second.version).toBe(2);
    expect((await (await get("services/orders/db")).json()).data).toEqual({ password: "v2" });
    expect((await (await get("services/orders/db?version=1")).json()).data).toEqual({ password: "v1" });
    const meta = (await (await get("services/orders/db?metadata=true")).json()).metadata;
    expect(meta.current_version).toBe(2);
    expect(Object.keys(meta.versions)).toEqual(["1", "2"]);
    expect((await get("services/orders/db?version=7")).status).toBe(404);
    expect((await get("services/orders/db?version=abc")).status).toBe(400);
  });

  test("cas: a stale version → 409 SEC_ERR_CAS_MISMATCH with the current version, nothing written", async () => {
    await put("services/orders/cas", { data: { a: 1 }, cas: 0 });
    const stale = await put("services/orders/cas", { data: { a: 2 }, cas: 0 });
    expect(stale.status).toBe(409);
    const e = (await stale.json()).error;
    expect(e.code).toBe("SEC_ERR_CAS_MISMATCH");
    expect(e.details.current_version).toBe(1);
    expect((await put("services/orders/cas", { data: { a: 2 }, cas: 1 })).status).toBe(200);
    expect((await (await get("services/orders/cas")).json()).data).toEqual({ a: 2 });
  });

  test("DELETE hides the latest version; ?all=true removes every version; list shows keys", async () => {
    await put("services/orders/tmp", { data: { a: 1 } });
    await put("services/orders/tmp", { data: { a: 2 } });
    expect((await fetch(url("services/orders/tmp"), { method: "DELETE", headers: s.auth() })).status).toBe(204);
    expect((await get("services/orders/tmp")).status).toBe(404);
    expect((await get("services/orders/tmp?version=1")).status).toBe(200);
    const list = await (await get("services/orders?list=true")).json();
    expect(list.keys).toContain("tmp");
    expect((await fetch(url("services/orders/tmp?all=true"), { method: "DELETE", headers: s.auth() })).status).toBe(204);
    expect((await get("services/orders/tmp?version=1")).status).toBe(404);
    expect((await fetch(url("services/orders/tmp"), { method: "DELETE", headers: s.auth() })).status).toBe(404);
  });
});

describe("repeated reads (answers memoised per unchanged version)", () => {
  const reads = (path: string) => readFileSync(join(s.dataDir, "security", "audit.log"), "utf8").split("\n").filter(Boolean)
    .map((l) => JSON.parse(l) as { action: string; target?: string; outcome: string; who: string })
    .filter((e) => e.action === "secret.read" && e.target === path);

  test("every change shows on the next read; every read is authorised and audited, repeats included", async () => {
    const path = "services/orders/memo";
    const read = async (q = "", token?: string) => { const r = await get(path + q, token); return { status: r.status, body: await r.json() }; };
    expect((await put(path, { data: { v: "one" } })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await read()).body.data).toEqual({ v: "one" });
    expect((await put(path, { data: { v: "two" } })).status).toBe(200);
    expect((await read()).body).toMatchObject({ path, data: { v: "two" }, metadata: { version: 2 } });
    expect((await read("?version=1")).body).toMatchObject({ data: { v: "one" }, metadata: { version: 1 } });
    expect((await fetch(url(path), { method: "DELETE", headers: s.auth() })).status).toBe(204);
    const deleted = await read();
    expect(deleted.status).toBe(404);
    expect(deleted.body.error.code).toBe("SEC_ERR_VERSION_DELETED");
    expect((await fetch(`${s.base}/v1/secret/undelete/${path}`, { method: "POST", headers: { "x-vault-token": s.admin }, body: JSON.stringify({ versions: [2] }) })).status).toBe(204);
    expect((await read()).body.data).toEqual({ v: "two" });
    expect((await fetch(`${s.base}/v1/secret/destroy/${path}`, { method: "PUT", headers: { "x-vault-token": s.admin }, body: JSON.stringify({ versions: [2] }) })).status).toBe(204);
    expect((await read()).body.error.code).toBe("SEC_ERR_VERSION_DESTROYED");
    expect((await read("?version=1")).body.data).toEqual({ v: "one" });
    // A read answered many times before is still refused to a caller without the grant, and that refusal is audited.
    const billing = await tokenOf("billing");
    expect((await read("?version=1", billing)).status).toBe(403);
    expect((await fetch(url(path + "?all=true"), { method: "DELETE", headers: s.auth() })).status).toBe(204);
    expect((await read("?version=1")).status).toBe(404);
    const trail = reads(path).map((e) => `${e.who} ${e.outcome}`);
    // Lines keep their key order (AuditFields' order) and leave absent fields out.
    const line = readFileSync(join(s.dataDir, "security", "audit.log"), "utf8").split("\n").find((l) => l.includes(`"action":"secret.read","target":"${path}","outcome":"ok"`))!;
    expect(Object.keys(JSON.parse(line))).toEqual(["seq", "ts", "who", "action", "target", "outcome", "request_id", "reason", "prev", "hash"]);
    expect(trail).toEqual([...Array(3).fill("admin ok"), "admin ok", "admin ok", "admin error", "admin ok", "admin error", "admin ok", "service:billing denied", "admin error"]);
  });
});

describe("isolation", () => {
  test("a service reads and writes its own path; another service's secrets → 403; grants in config widen reads only", async () => {
    const orders = await tokenOf("orders");
    const reporting = await tokenOf("reporting");
    expect((await put("services/orders/api", { data: { k: "o" } }, orders)).status).toBe(200);
    expect((await get("services/orders/api", orders)).status).toBe(200);
    const denied = await get("services/orders/api", reporting);
    expect(denied.status).toBe(403);
    expect((await denied.json()).error.code).toBe("SEC_ERR_FORBIDDEN");
    expect((await put("services/reporting/x", { data: { k: 1 } }, orders)).status).toBe(403);
    expect((await put("shared/feed", { data: { k: 1 } })).status).toBe(200);
    expect((await get("shared/feed", reporting)).status).toBe(200);
    expect((await put("shared/feed", { data: { k: 2 } }, reporting)).status).toBe(403);
    expect((await get("shared/feed", orders)).status).toBe(403);
    // Prefix match is on whole segments: services/orders does not grant services/orders-evil.
    expect((await get("services/orders-evil/x", orders)).status).toBe(403);
    expect((await get("services/orders/api")).status).toBe(200);
    expect((await fetch(url("services/orders/api"))).status).toBe(401);
  });
});

describe("bad input: clear 4xx, nothing written", () => {
  test("traversal, absolute, control characters, oversize path, malformed escapes", async () => {
    const before = storeFiles();
    for (const p of ["services/orders/..%2F..%2Fetc", "%2Fetc%2Fpasswd", "services/orders/a%00b", "services/orders/a%0Ab", "a%5Cb", `services/${"x".repeat(300)}`, "services/%zz", "services//x"]) {
      const r = await put(p, { data: { a: 1 } });
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toBe("SEC_ERR_BAD_PATH");
    }
    // A raw ../ (curl --path-as-is) never reaches a secret outside the tree either.
    const raw = await run(["curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", `authorization: Bearer ${s.admin}`, "-H", "content-type: application/json", "--data", '{"data":{"a":1}}', `${s.base}/secrets/services/../../x`]);
    expect(Number(raw.out)).toBeGreaterThanOrEqual(400);
    expect(Number(raw.out)).toBeLessThan(500);
    expect(storeFiles()).toBe(before);
  });

  test("oversize value → 413, malformed bodies → 400, nothing written", async () => {
    const before = storeFiles();
    const big = await put("services/orders/big", { data: { blob: "x".repeat(3000) } });
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe("SEC_ERR_TOO_LARGE");
    // Over the plugin's 1 MiB body limit: refused from Content-Length, coded, body never read.
    const huge = await put("services/orders/huge", "x".repeat(2_000_000));
    expect(huge.status).toBe(413);
    expect((await huge.json()).error.code).toBe("SEC_ERR_TOO_LARGE");
    for (const body of ["{not json", "[]", JSON.stringify({ data: "str" }), JSON.stringify({ data: [1] }), JSON.stringify({ data: { a: 1 }, cas: -1 }), JSON.stringify({ data: { a: 1 }, junk: 1 }), JSON.stringify({})]) {
      const r = await put("services/orders/bad", body);
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toMatch(/^SEC_ERR_(BAD_BODY|PARSE)$/);
    }
    expect((await get("services/orders/bad")).status).toBe(404);
    expect(storeFiles()).toBe(before);
  });
});

describe("at rest", () => {
  test("no stored secret value in plaintext anywhere in the data directory (grep -r), audit holds an HMAC only", async () => {
    await put("services/orders/canary", { data: { password: PLAINTEXT } });
    await get("services/orders/canary");
    await fetch(`${s.base}/audit`, { headers: s.auth() }); // flushes the audit log
    const grep = await run(["grep", "-r", "-l", PLAINTEXT, s.dataDir]);
    expect(grep.out).toBe("");
    expect(grep.code).toBe(1); // grep: no match
    const audit = readFileSync(join(s.dataDir, "security", "audit.log"), "utf8");
    const write = audit.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.action === "secret.write" && e.target === "services/orders/canary");
    expect(write.value_hmac).toMatch(/^[0-9a-f]{64}$/);
    // Every key file is 0600.
    for (const f of ["ca.key", "secrets.kek", "admin-token", "jwt-keys.sealed"]) expect(statSync(join(s.dataDir, "security", f)).mode & 0o777).toBe(0o600);
    expect(filesUnder(s.dataDir).length).toBeGreaterThan(5);
  });
});

describe("file modes at rest", () => {
  const walk = (dir: string): { path: string; dir: boolean }[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = join(dir, e.name);
      return e.isDirectory() ? [{ path: p, dir: true }, ...walk(p)] : [{ path: p, dir: false }];
    });
  const loose = (dir: string) => walk(dir).filter((e) => (statSync(e.path).mode & 0o777) !== (e.dir ? 0o700 : 0o600)).map((e) => `${e.path} ${(statSync(e.path).mode & 0o777).toString(8)}`);

  test("every file the plugin writes is 0600 and every directory 0700 (CA, keys, secrets, journal, CRL, deny-lists, audit log and seal)", async () => {
    const orders = await tokenOf("orders");
    await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: s.auth() });
    await fetch(`${s.base}/credentials/orders/revoke`, { method: "POST", headers: s.auth(), body: "{}" });
    await fetch(`${s.base}/tokens/revoke`, { method: "POST", headers: s.auth(), body: JSON.stringify({ token: orders }) });
    await put("services/orders/modes", { data: { a: 1 } });
    await fetch(`${s.base}/audit`, { headers: s.auth() });
    const sec = join(s.dataDir, "security");
    const names = walk(sec).map((e) => e.path.slice(sec.length + 1));
    for (const f of ["ca.pem", "ca.key", "crl.pem", "revoked.json", "revoked-jti.json", "credentials.journal", "audit.log", "audit.head", "secrets"]) expect(names).toContain(f);
    expect(loose(sec)).toEqual([]);
    expect(statSync(sec).mode & 0o777).toBe(0o700);
  });

  test("a start tightens files and directories left looser (by an older version or by hand), and says so", async () => {
    const data = join(s.t.dir, "modes-restart", "data");
    const first = await startSecurityAt(data, "");
    await fetch(`${first.base}/secrets/services/x/y`, { method: "PUT", headers: { authorization: `Bearer ${readFileSync(join(data, "security", "admin-token"), "utf8").trim()}` }, body: JSON.stringify({ data: { a: 1 } }) });
    await first.stop();
    const sec = join(data, "security");
    for (const e of walk(sec)) chmodSync(e.path, e.dir ? 0o755 : 0o644);
    chmodSync(sec, 0o777);
    expect(loose(sec).length).toBeGreaterThan(5);
    const again = await startSecurityAt(data, "");
    try {
      expect(loose(sec)).toEqual([]);
      expect(statSync(sec).mode & 0o777).toBe(0o700);
      const warn = again.logs.find((l) => String(l.msg).includes("tightened to 0600"));
      expect(warn?.count).toBeGreaterThan(5);
    } finally {
      await again.stop();
    }
  });
});

describe("Vault KV v2 API shape", () => {
  test("node-vault (an independent client) writes, reads, versions, lists and deletes through /v1/secret/...", async () => {
    const vault = vaultFactory({ endpoint: s.base, token: s.admin, noCustomHTTPVerbs: true });
    const w = await vault.write("secret/data/services/orders/vaulted", { data: { user: "svc", pass: "pw1" } });
    expect(w.data.version).toBe(1);
    await vault.write("secret/data/services/orders/vaulted", { data: { user: "svc", pass: "pw2" }, options: { cas: 1 } });
    const r = await vault.read("secret/data/services/orders/vaulted");
    expect(r.data.data).toEqual({ user: "svc", pass: "pw2" });
    expect(r.data.metadata.version).toBe(2);
    const v1 = await vault.read("secret/data/services/orders/vaulted?version=1");
    expect(v1.data.data.pass).toBe("pw1");
    const list = await vault.list("secret/metadata/services/orders");
    expect(list.data.keys).toContain("vaulted");
    // The same secret through our own endpoint.
    expect((await (await get("services/orders/vaulted")).json()).data.pass).toBe("pw2");
    await expect(vault.write("secret/data/services/orders/vaulted", { data: { pass: "x" }, options: { cas: 1 } })).rejects.toThrow(/check-and-set/);
    await vault.delete("secret/data/services/orders/vaulted");
    await expect(vault.read("secret/data/services/orders/vaulted")).rejects.toMatchObject({ response: { statusCode: 404 } });
    const health = await vault.health();
    expect(health.sealed).toBe(false);
  });

  test("node-vault with a wrong token gets 403; with a service token it is confined to its path", async () => {
    const bad = vaultFactory({ endpoint: s.base, token: "wrong" });
    await expect(bad.read("secret/data/services/orders/api")).rejects.toMatchObject({ response: { statusCode: 403 } });
    const svc = vaultFactory({ endpoint: s.base, token: await tokenOf("reporting") });
    await expect(svc.read("secret/data/services/orders/api")).rejects.toMatchObject({ response: { statusCode: 403 } });
    await svc.write("secret/data/services/reporting/own", { data: { a: 1 } });
    expect((await svc.read("secret/data/services/reporting/own")).data.data).toEqual({ a: 1 });
    await expect(svc.write("secret/data/services/reporting/..%2F..%2Fx", { data: { a: 1 } })).rejects.toMatchObject({ response: { statusCode: 400 } });
  });
});

describe("Vault backend (ENABLE_VAULT) against a MOCK Vault", () => {
  test("the same endpoints read and write the Vault KV v2 mount; an unreachable Vault is 503 and health says so", async () => {
    const mock = startMockVault("mock-token");
    const v = await startSecurity(`
secrets:
  vault:
    enabled: \${ENABLE_VAULT:-false}
    addr: \${VAULT_ADDR:-}
    token: \${VAULT_TOKEN:-}
    timeout: 1s
`, { env: { ENABLE_VAULT: "true", VAULT_ADDR: mock.url, VAULT_TOKEN: "mock-token" } });
    try {
      const w = await fetch(`${v.base}/secrets/services/orders/db`, { method: "PUT", headers: v.auth(), body: JSON.stringify({ data: { p: PLAINTEXT } }) });
      expect(w.status).toBe(200);
      expect(mock.requests.some((r) => r.method === "POST" && r.path === "/v1/secret/data/services/orders/db")).toBe(true);
      expect((await (await fetch(`${v.base}/secrets/services/orders/db`, { headers: v.auth() })).json()).data).toEqual({ p: PLAINTEXT });
      expect((await (await fetch(`${v.base}/health`)).json()).checks.store).toBe("vault");
      // Nothing of the secret in our data dir: it lives in Vault.
      expect((await run(["grep", "-r", "-l", PLAINTEXT, v.dataDir])).out).toBe("");
      mock.stop();
      const down = await fetch(`${v.base}/secrets/services/orders/db`, { headers: v.auth() });
      expect(down.status).toBe(503);
      expect((await down.json()).error.code).toBe("SEC_ERR_BACKEND_UNAVAILABLE");
      expect((await fetch(`${v.base}/health`)).status).toBe(503);
    } finally {
      mock.stop();
      await v.stop();
    }
  });
});
