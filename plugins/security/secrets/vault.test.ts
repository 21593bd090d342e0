import { afterAll, expect, test } from "bun:test";
import { createVaultStore } from "./vault";
import { secretStoreConformance } from "./conformance";
import { startMockVault } from "./mock-vault";
import { BackendError } from "./store";

// A fresh MOCK Vault per case (Vault itself cannot run here).
secretStoreConformance("vault (against a MOCK Vault)", async () => {
  const vault = startMockVault();
  const store = createVaultStore({ addr: vault.url, token: vault.token, mount: "secret", timeoutMs: 2000 });
  return { store, cleanup: async () => vault.stop() };
});

const vault = startMockVault();
afterAll(() => vault.stop());

test("vault store: uses KV v2 paths and the X-Vault-Token", async () => {
  const store = createVaultStore({ addr: vault.url, token: vault.token, mount: "secret", timeoutMs: 2000 });
  await store.put("services/a/b", { x: 1 });
  await store.get("services/a/b");
  expect(vault.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /v1/secret/data/services/a/b", "GET /v1/secret/data/services/a/b"]);
});

test("vault store: a wrong token or a failing Vault is a BackendError, unreachable is 'unavailable'", async () => {
  const wrong = createVaultStore({ addr: vault.url, token: "nope", mount: "secret", timeoutMs: 2000 });
  const e1 = await wrong.get("x").catch((e) => e);
  expect(e1).toBeInstanceOf(BackendError);
  expect(e1.unavailable).toBe(false);
  vault.failWith = 500;
  const ok = createVaultStore({ addr: vault.url, token: vault.token, mount: "secret", timeoutMs: 2000 });
  const e2 = await ok.get("x").catch((e) => e);
  expect(e2.unavailable).toBe(true);
  vault.failWith = undefined;
  const gone = createVaultStore({ addr: "http://127.0.0.1:1", token: "t", mount: "secret", timeoutMs: 500 });
  const e3 = await gone.put("x", { a: 1 }).catch((e) => e);
  expect(e3).toBeInstanceOf(BackendError);
  expect(e3.unavailable).toBe(true);
  expect((await gone.health()).ok).toBe(false);
});
