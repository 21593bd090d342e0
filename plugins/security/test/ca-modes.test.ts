/** CA options: an offline root + online intermediate, and RSA-2048 instead of ECDSA P-256. */
import { expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSecurity, run } from "./support";

test("root-intermediate: leaves chain through the intermediate to the root; mTLS works with the chain", async () => {
  const s = await startSecurity(`ca:\n  mode: root-intermediate`);
  try {
    const sec = join(s.dataDir, "security");
    expect(existsSync(join(sec, "intermediate.pem"))).toBe(true);
    expect(statSync(join(sec, "root.key")).mode & 0o777).toBe(0o600);
    const cred = await (await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: s.auth() })).json();
    const ca = (await (await fetch(`${s.base}/ca/certificate`)).json());
    expect(ca.chain.length).toBe(1);
    const f = (n: string, t: string) => { const p = join(s.t.dir, n); writeFileSync(p, t); return p; };
    const root = f("root.pem", ca.certificate), inter = f("inter.pem", ca.chain[0]), leaf = f("leaf.pem", cred.certificate);
    expect((await run(["openssl", "verify", "-CAfile", root, "-untrusted", inter, leaf])).out).toContain("OK");
    // Without the intermediate the leaf does not verify against the root alone.
    expect((await run(["openssl", "verify", "-CAfile", root, leaf])).code).not.toBe(0);
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: cred.chain, key: cred.private_key, ca: cred.ca, requestCert: true, rejectUnauthorized: true }, fetch: () => new Response("ok") });
    try {
      const res = await fetch(`https://127.0.0.1:${server.port}/`, { tls: { cert: cred.chain, key: cred.private_key, ca: cred.ca } });
      expect(await res.text()).toBe("ok");
    } finally { server.stop(true); }
  } finally { await s.stop(); }
});

test("rsa-2048: the CA and leaves use RSA and verify", async () => {
  const s = await startSecurity(`ca:\n  algorithm: rsa-2048`);
  try {
    const cred = await (await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: s.auth() })).json();
    const f = (n: string, t: string) => { const p = join(s.t.dir, n); writeFileSync(p, t); return p; };
    const ca = f("ca.pem", cred.ca), leaf = f("leaf.pem", cred.certificate);
    expect((await run(["openssl", "verify", "-CAfile", ca, leaf])).out).toContain("OK");
    expect((await run(["openssl", "x509", "-in", leaf, "-noout", "-text"])).out).toContain("Public-Key: (2048 bit)");
  } finally { await s.stop(); }
});

test("a reload does not regenerate the CA (state lives in the shared pool and the data dir)", async () => {
  const s = await startSecurity(``);
  try {
    const before = (await (await fetch(`${s.base}/ca/certificate`)).json()).certificate;
    const r = await s.t.rewrite(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
plugins:
  security:
    port: 0
    tokens:
      ttl: 5m
`);
    expect(r.ok).toBe(true);
    const base = s.t.url("security");
    expect((await (await fetch(`${base}/ca/certificate`)).json()).certificate).toBe(before);
  } finally { await s.stop(); }
});
