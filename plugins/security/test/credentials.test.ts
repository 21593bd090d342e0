/**
 * Service credentials end to end: issued certificates pass `openssl verify` against GET /ca/certificate,
 * carry the SPIFFE ID and EKUs, work in a real mTLS handshake (Bun.serve requestCert ↔ fetch and curl),
 * are listed in the CRL once revoked, are renewed at 2/3 of their life, and the key goes only to its owner.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { statSync, writeFileSync } from "node:fs";
import { startSecurity, run, type SecurityHarness } from "./support";

let s: SecurityHarness;
let files: string;
const write = (name: string, text: string) => { const f = join(files, name); writeFileSync(f, text, { mode: 0o600 }); return f; };

beforeAll(async () => {
  s = await startSecurity(`
credentials:
  ttl: 3s
  renew_check_interval: 250ms
services:
  orders: { scopes: [read] }
  auditor: { credentials: [orders] }
`);
  files = s.t.dir;
});
afterAll(async () => { await s?.stop(); });

async function issue(service: string) {
  const r = await fetch(`${s.base}/credentials/${service}`, { method: "POST", headers: s.auth() });
  expect(r.status).toBe(201);
  return r.json();
}

describe("CA", () => {
  test("ca.key is 0600 and is never served", async () => {
    expect(statSync(join(s.dataDir, "security", "ca.key")).mode & 0o777).toBe(0o600);
    const body = await (await fetch(`${s.base}/ca/certificate`)).text();
    expect(body).toContain("BEGIN CERTIFICATE");
    expect(body).not.toContain("PRIVATE KEY");
  });
});

describe("issued credentials", () => {
  test("openssl verify accepts the certificate against GET /ca/certificate; SPIFFE URI SAN, DNS SANs and both EKUs", async () => {
    const cred = await issue("orders");
    const ca = write("ca.pem", await (await fetch(`${s.base}/ca/certificate?format=pem`)).text());
    const cert = write("orders.pem", cred.certificate);
    const v = await run(["openssl", "verify", "-CAfile", ca, cert]);
    expect(v.out.trim()).toBe(`${cert}: OK`);
    const text = (await run(["openssl", "x509", "-in", cert, "-noout", "-text"])).out;
    expect(text).toContain("URI:spiffe://tradpal.local/service/orders");
    expect(text).toContain("DNS:orders");
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(text).toContain("Subject: CN = orders");
    expect(cred.private_key).toContain("BEGIN PRIVATE KEY");
  });

  test("a real mTLS handshake: Bun.serve with requestCert accepts fetch and curl with issued credentials, refuses without", async () => {
    const server = await issue("orders");
    const client = await issue("orders");
    const upstream = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: server.chain, key: server.private_key, ca: server.ca, requestCert: true, rejectUnauthorized: true },
      fetch: () => Response.json({ hello: "mtls" }),
    });
    try {
      const url = `https://127.0.0.1:${upstream.port}/`;
      const ok = await fetch(url, { tls: { cert: client.chain, key: client.private_key, ca: client.ca } });
      expect(await ok.json()).toEqual({ hello: "mtls" });
      await expect(fetch(url, { tls: { ca: client.ca } })).rejects.toThrow();
      const ca = write("ca2.pem", client.ca), cert = write("c.pem", client.chain), key = write("c.key", client.private_key);
      const good = await run(["curl", "-sS", "--max-time", "5", "--cacert", ca, "--cert", cert, "--key", key, url]);
      expect(good.out).toBe('{"hello":"mtls"}');
      const bad = await run(["curl", "-sS", "--max-time", "5", "--cacert", ca, url]);
      expect(bad.code).not.toBe(0);
    } finally {
      upstream.stop(true);
    }
  });

  test("revocation: the serial is listed by `openssl crl -text`, GET stops returning it, the CRL verifies against the CA", async () => {
    const cred = await issue("orders");
    const r = await fetch(`${s.base}/credentials/orders/revoke`, { method: "POST", headers: s.auth(), body: "{}" });
    expect(r.status).toBe(200);
    expect((await r.json()).revoked).toBe(cred.serial);
    const crl = write("crl.pem", await (await fetch(`${s.base}/ca/crl`)).text());
    const ca = write("ca3.pem", cred.ca);
    const text = await run(["openssl", "crl", "-in", crl, "-noout", "-text", "-CAfile", ca]);
    expect(text.err).toContain("verify OK");
    expect(text.out).toContain(`Serial Number: ${cred.serial.toUpperCase()}`);
    const after = await fetch(`${s.base}/credentials/orders`, { headers: s.auth() });
    expect(after.status).toBe(404);
    // Revoking again: nothing live to revoke.
    expect((await fetch(`${s.base}/credentials/orders/revoke`, { method: "POST", headers: s.auth(), body: "{}" })).status).toBe(404);
  });

  test("the private key is returned to the service itself only; a granted reader sees the certificate; others get 403", async () => {
    await issue("orders");
    const mint = async (svc: string) => (await (await fetch(`${s.base}/tokens/${svc}`, { method: "POST", headers: s.auth(), body: "{}" })).json()).token as string;
    const own = await (await fetch(`${s.base}/credentials/orders`, { headers: s.auth(await mint("orders")) })).json();
    expect(own.private_key).toContain("PRIVATE KEY");
    const asAdmin = await (await fetch(`${s.base}/credentials/orders`, { headers: s.auth() })).json();
    expect(asAdmin.certificate).toContain("CERTIFICATE");
    expect(asAdmin.private_key).toBeUndefined();
    const granted = await (await fetch(`${s.base}/credentials/orders`, { headers: s.auth(await mint("auditor")) })).json();
    expect(granted.private_key).toBeUndefined();
    const other = await fetch(`${s.base}/credentials/orders`, { headers: s.auth(await mint("payments")) });
    expect(other.status).toBe(403);
    expect((await other.json()).error.code).toBe("SEC_ERR_FORBIDDEN");
    const otherIssue = await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: s.auth(await mint("payments")) });
    expect(otherIssue.status).toBe(403);
  });

  test("renewal at 2/3 of the lifetime (ttl 3s → ~2s); the previous certificate is still returned until it expires", async () => {
    const first = await issue("renewme");
    const issued = Date.now();
    // notAfter is whole seconds (≤ 1s earlier than now + ttl), so renew_at is 2/3 of 2–3 s after issuance.
    const renewAt = Date.parse(first.renew_at);
    const life = Date.parse(first.not_after) - renewAt;
    expect(renewAt - issued).toBeGreaterThan(1_200);
    expect(renewAt - issued).toBeLessThan(2_100);
    expect((renewAt - issued) / (renewAt - issued + life)).toBeCloseTo(2 / 3, 1);
    const early = await (await fetch(`${s.base}/credentials/renewme`, { headers: s.auth() })).json();
    expect(early.serial).toBe(first.serial);
    let cur = early;
    const deadline = Date.now() + 4_000;
    while (Date.now() < deadline && cur.serial === first.serial) {
      await Bun.sleep(100);
      cur = await (await fetch(`${s.base}/credentials/renewme`, { headers: s.auth() })).json();
    }
    expect(cur.serial).not.toBe(first.serial);
    expect(Date.now()).toBeGreaterThanOrEqual(renewAt - 20);
    expect(cur.previous?.serial).toBe(first.serial);
    const audit = await (await fetch(`${s.base}/audit?limit=1000`, { headers: s.auth() })).json();
    expect(audit.entries.some((e: { action: string; target: string }) => e.action === "credentials.renew" && e.target === "renewme")).toBe(true);
  });

  test("bad service names and missing tokens are coded 4xx", async () => {
    const bad = await fetch(`${s.base}/credentials/Bad%20Name`, { method: "POST", headers: s.auth() });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe("SEC_ERR_BAD_SERVICE_NAME");
    // Malformed percent-encoding: Elysia hands the route a null parameter (was read as the name "null").
    for (const method of ["GET", "POST"]) {
      const r = await fetch(`${s.base}/credentials/%ZZ`, { method, headers: s.auth() });
      expect(r.status).toBe(400);
      expect((await r.json()).error.code).toBe("SEC_ERR_BAD_SERVICE_NAME");
    }
    const anon = await fetch(`${s.base}/credentials/orders`, { method: "POST" });
    expect(anon.status).toBe(401);
    const garbage = await fetch(`${s.base}/credentials/orders`, { headers: { authorization: "Bearer not-a-token" } });
    expect(garbage.status).toBe(401);
    expect((await garbage.json()).error.code).toBe("SEC_ERR_BAD_TOKEN");
  });
});
