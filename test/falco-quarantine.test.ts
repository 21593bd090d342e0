/**
 * A runtime alert quarantines a service across the platform (issue 15, "Done when"): falco, security and
 * the real gateway in one host. Within 1 s of a critical alert in enforce mode the service's token is
 * refused by the gateway (401, also when it was cached), its routes answer 503 GW_ERR_SERVICE_QUARANTINED,
 * and its certificate is in the CRL; an operator's lift restores routes and tokens (the certificate stays
 * revoked). A reload of the gateway keeps the quarantine.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { crlText } from "./support/openssl-pki";
import { freePort, startHost, type TestHost } from "./support/harness";

const ADMIN = "security-admin-token-0123456789abcdef";
const FALCO_ADMIN = "falco-admin-token-0123456789abcdef";
const upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
let t: TestHost;
let secPort = 0;

const config = (tag: string) => `
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
plugins:
  security:
    port: ${secPort}
    admin_token: "${ADMIN}"
    services:
      trading_service: { scopes: [trade] }
      risk: { scopes: [trade] }
  gateway:
    port: 0
    auth: { jwks_url: "http://127.0.0.1:${secPort}/.well-known/jwks.json" }
    rate_limiting: { enabled: false }
    registration: { admin_token: "${ADMIN}" }
    services:
      - { name: trading_service, path_prefix: /trading, auth_required: true, scopes: [trade], instances: [{ url: "http://127.0.0.1:${upstream.port}" }], health_check: { enabled: false }, transform: { response_headers: { set: { x-tag: "${tag}" } } } }
      - { name: risk, path_prefix: /risk, auth_required: true, scopes: [trade], instances: [{ url: "http://127.0.0.1:${upstream.port}" }], health_check: { enabled: false } }
  falco:
    port: 0
    services:
      - { service: trading_service, container_names: [trading_service] }
    respond:
      admin_token: "${FALCO_ADMIN}"
      security_url: "http://127.0.0.1:${secPort}"
      security_token: "${ADMIN}"
      policies:
        - { on: [quarantine], min_priority: critical, action: quarantine, mode: enforce }
`;

beforeAll(async () => {
  secPort = freePort();
  t = await startHost(config("a"));
});
afterAll(async () => { await t?.stop(); upstream.stop(true); });

const auth = { authorization: `Bearer ${ADMIN}` };
async function token(service: string): Promise<string> {
  const r = await fetch(`${t.url("security")}/tokens/${service}`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" });
  expect(r.status).toBe(201);
  return (await r.json()).token;
}
async function call(path: string, tok: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${t.url("gateway")}${path}`, { headers: { authorization: `Bearer ${tok}` } });
  return { status: r.status, body: await r.text() };
}
const crl = async () => crlText(await (await fetch(`${t.url("security")}/ca/crl`)).text(), t.dir);

test("enforce: within 1 s the token is refused, the routes answer 503 and the certificate is in the CRL; lift restores", async () => {
  const cert = await fetch(`${t.url("security")}/credentials/trading_service`, { method: "POST", headers: auth });
  expect(cert.status).toBe(201);
  const serial = ((await cert.json()).serial as string).toUpperCase();
  const trading = await token("trading_service");
  const risk = await token("risk");
  expect((await call("/trading/x", trading)).status).toBe(200); // now cached by the gateway
  expect((await call("/risk/x", trading)).status).toBe(200);

  const t0 = Date.now();
  const alert = { output: "crypto miner", priority: "Critical", rule: "TradPal Crypto Miner Indicators", time: new Date().toISOString(), tags: ["tradpal", "quarantine"], output_fields: { "container.name": "trading_service", "container.id": "c1", "proc.name": "xmrig" } };
  expect((await fetch(`${t.url("falco")}/`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(alert) })).status).toBe(200);
  let routes = 0, tokens = 0, revoked = 0;
  while (Date.now() - t0 < 1000 && (!routes || !tokens || !revoked)) {
    if (!routes && (await call("/trading/x", risk)).body.includes("GW_ERR_SERVICE_QUARANTINED")) routes = Date.now() - t0;
    if (!tokens && (await call("/risk/x", trading)).status === 401) tokens = Date.now() - t0;
    if (!revoked && (await crl()).includes(serial)) revoked = Date.now() - t0;
    await Bun.sleep(10);
  }
  console.log(`quarantine: routes 503 after ${routes} ms, token refused after ${tokens} ms, certificate in the CRL after ${revoked} ms`);
  expect([routes > 0, tokens > 0, revoked > 0]).toEqual([true, true, true]);
  const r503 = await fetch(`${t.url("gateway")}/trading/x`, { headers: { authorization: `Bearer ${risk}` } });
  expect(r503.status).toBe(503);
  expect((await r503.json()).error.code).toBe("GW_ERR_SERVICE_QUARANTINED");
  expect((await call("/risk/x", risk)).status).toBe(200); // other services and their tokens are untouched

  // A gateway reload keeps the quarantine (the set lives in the shared pool).
  expect((await t.rewrite(config("b"))).ok).toBe(true);
  expect((await call("/trading/x", risk)).status).toBe(503);
  expect((await call("/risk/x", trading)).status).toBe(401);

  const lift = await fetch(`${t.url("falco")}/falco/quarantine/trading_service/lift`, { method: "POST", headers: { authorization: `Bearer ${FALCO_ADMIN}` } });
  expect(lift.status).toBe(200);
  expect((await call("/trading/x", risk)).status).toBe(200);
  expect((await call("/risk/x", trading)).status).toBe(200);
  expect(await crl()).toContain(serial); // a revoked certificate stays revoked
}, 30_000);
