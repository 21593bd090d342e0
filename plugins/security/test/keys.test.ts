/**
 * Keys from the environment or configured files: SECRETS_KEK (no key file written; the wrong KEK is
 * refused at start, naming the problem), SECURITY_ADMIN_TOKEN, and a CA loaded from ca.cert_file/key_file.
 */
import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { startSecurityAt, run } from "./support";
import { loadOrCreateCa } from "../../../src/lib/pki/ca";

const block = `admin_token: "\${SECURITY_ADMIN_TOKEN:-}"\nsecrets:\n  kek: "\${SECRETS_KEK:-}"`;

test("SECRETS_KEK and SECURITY_ADMIN_TOKEN from the environment: no key files, secrets survive a restart, a wrong KEK is refused", async () => {
  const data = join(tempDir(), "data");
  const kek = randomBytes(32).toString("base64");
  const env = { SECRETS_KEK: kek, SECURITY_ADMIN_TOKEN: "env-admin-token-123" };
  const a = await startSecurityAt(data, block, env);
  const h = { authorization: "Bearer env-admin-token-123", "content-type": "application/json" };
  try {
    expect((await fetch(`${a.base}/secrets/services/x/y`, { method: "PUT", headers: h, body: JSON.stringify({ data: { v: "kept" } }) })).status).toBe(200);
  } finally { await a.stop(); }
  expect(existsSync(join(data, "security", "secrets.kek"))).toBe(false);
  expect(existsSync(join(data, "security", "admin-token"))).toBe(false);
  const b = await startSecurityAt(data, block, env);
  try {
    expect((await (await fetch(`${b.base}/secrets/services/x/y`, { headers: h })).json()).data).toEqual({ v: "kept" });
  } finally { await b.stop(); }
  const wrong = await startSecurityAt(data, block, { ...env, SECRETS_KEK: randomBytes(32).toString("base64") }).catch((e) => e);
  expect(wrong).toBeInstanceOf(Error);
  expect(String(wrong.message)).toContain("wrong key-encryption key");
  const malformed = await startSecurityAt(join(tempDir(), "data"), block, { ...env, SECRETS_KEK: "c2hvcnQ=" }).catch((e) => e);
  expect(String(malformed.message)).toContain("SECRETS_KEK must be base64 of exactly 32 bytes");
});

test("a CA loaded from ca.cert_file/key_file signs the leaves; no CA is created in the data dir", async () => {
  const caDir = join(tempDir(), "external-ca");
  await loadOrCreateCa({ dir: caDir, commonName: "External Test CA" });
  const data = join(tempDir(), "data");
  const s = await startSecurityAt(data, `ca:\n  cert_file: ${join(caDir, "ca.pem")}\n  key_file: ${join(caDir, "ca.key")}`);
  try {
    const admin = readFileSync(join(data, "security", "admin-token"), "utf8").trim();
    const cred = await (await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: { authorization: `Bearer ${admin}` } })).json();
    const leaf = join(caDir, "leaf.pem");
    writeFileSync(leaf, cred.certificate);
    expect((await run(["openssl", "verify", "-CAfile", join(caDir, "ca.pem"), leaf])).out).toContain("OK");
    expect((await (await fetch(`${s.base}/ca/certificate`)).json()).issuer_subject).toContain("External Test CA");
    expect(existsSync(join(data, "security", "ca.key"))).toBe(false);
  } finally { await s.stop(); }
});

test("a CA key that does not match its certificate is refused at start", async () => {
  const one = join(tempDir(), "ca1"), two = join(tempDir(), "ca2");
  await loadOrCreateCa({ dir: one });
  await loadOrCreateCa({ dir: two });
  const err = await startSecurityAt(join(tempDir(), "data"), `ca:\n  cert_file: ${join(one, "ca.pem")}\n  key_file: ${join(two, "ca.key")}`).catch((e) => e);
  expect(String(err.message)).toContain("does not match");
});
