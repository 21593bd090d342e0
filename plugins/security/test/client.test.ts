/**
 * SecurityClient as in the seed's usage example, against a real host — also with platform mTLS on,
 * where the client presents the host's certificate (and is refused without one).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SecurityClient, SecurityClientError } from "../../../src/clients/security-client";
import { startSecurity, type SecurityHarness } from "./support";

describe("SecurityClient (plain HTTP)", () => {
  let s: SecurityHarness;
  beforeAll(async () => { s = await startSecurity(`services:\n  trading_service: { scopes: [read, trade] }`); });
  afterAll(async () => { await s?.stop(); });

  test("the seed's flow: issue credentials, generate a token, use it", async () => {
    const security = new SecurityClient({ baseUrl: s.base, token: s.admin });
    const creds = await security.issueCredentials("trading_service");
    expect(creds.spiffe_id).toBe("spiffe://tradpal.local/service/trading_service");
    expect(creds.private_key).toContain("PRIVATE KEY");
    const token = await security.generateToken("trading_service", ["read", "trade"]);
    const headers = { Authorization: `Bearer ${token}` };
    const asService = new SecurityClient({ baseUrl: s.base, token });
    const mine = await asService.getCredentials("trading_service");
    expect(mine?.serial).toBe(creds.serial);
    expect(mine?.private_key).toBeDefined();
    const v = await security.validateToken(token);
    expect(v.valid).toBe(true);
    expect(v.claims?.scopes).toEqual(["read", "trade"]);
    expect(headers.Authorization).toStartWith("Bearer ey");
  });

  test("secrets and the CA certificate", async () => {
    const security = new SecurityClient({ baseUrl: s.base, token: s.admin });
    const v1 = await security.putSecret("services/trading_service/exchange", { key: "k1" });
    await security.putSecret("services/trading_service/exchange", { key: "k2" }, { cas: v1.version });
    expect(await security.getSecret("services/trading_service/exchange")).toEqual({ key: "k2" });
    expect(await security.getSecret("services/trading_service/exchange", { version: 1 })).toEqual({ key: "k1" });
    expect(await security.getSecret("services/trading_service/none")).toBeUndefined();
    expect(await security.getCredentials("nobody")).toBeUndefined();
    expect(await security.caCertificate()).toStartWith("-----BEGIN CERTIFICATE-----");
  });

  test("errors carry the status and the coded error", async () => {
    const security = new SecurityClient({ baseUrl: s.base, token: s.admin });
    const err = await security.generateToken("trading_service", ["admin"]).catch((e) => e);
    expect(err).toBeInstanceOf(SecurityClientError);
    expect(err.status).toBe(403);
    expect(err.code).toBe("SEC_ERR_SCOPE_NOT_ALLOWED");
    const cas = await security.putSecret("services/trading_service/exchange", { key: "x" }, { cas: 1 }).catch((e) => e);
    expect(cas.code).toBe("SEC_ERR_CAS_MISMATCH");
    const anon = await new SecurityClient({ baseUrl: s.base, token: "" }).getSecret("services/x/y").catch((e) => e);
    expect(anon.status).toBe(401);
  });
});

describe("SecurityClient over platform mTLS (ENABLE_MTLS)", () => {
  let s: SecurityHarness;
  beforeAll(async () => {
    s = await startSecurity(``, { host: "  mtls:\n    enabled: ${ENABLE_MTLS:-false}", env: { ENABLE_MTLS: "true" } });
  });
  afterAll(async () => { await s?.stop(); });

  test("with the host's client certificate it works; issued service credentials work too; without a certificate the handshake fails", async () => {
    expect(s.base).toStartWith("https://");
    const tls = s.t.host.clientTls!;
    const security = new SecurityClient({ baseUrl: s.base, token: s.admin, tls });
    const creds = await security.issueCredentials("orders");
    // The platform CA that signs service credentials is the one the listeners trust.
    expect(creds.ca).toBe(tls.ca);
    const asOrders = new SecurityClient({ baseUrl: s.base, token: s.admin, tls: { cert: creds.chain, key: creds.private_key, ca: creds.ca } });
    expect(await asOrders.caCertificate()).toBe(tls.ca);
    const naked = new SecurityClient({ baseUrl: s.base, token: s.admin, tls: { ca: tls.ca } });
    await expect(naked.caCertificate()).rejects.toThrow();
  });
});
