/**
 * Falco's response to the security plugin under platform mTLS (issue 14, Build 1): `respond.security_url`
 * written http:// (as the shipped config does) is a platform URL, so the quarantine's certificate
 * revocation goes out with https and the host's certificate; the revoked certificate is then refused at
 * the handshake by every listener (live CRL), here checked with curl.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startHost, type TestHost } from "./support/harness";

const ADMIN = "security-admin-token-0123456789abcdef";
let t: TestHost;

beforeAll(async () => {
  const secPort = freePort();
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  mtls: { enabled: true }
plugins:
  security:
    port: ${secPort}
    admin_token: "${ADMIN}"
  falco:
    port: 0
    services:
      - { service: trading_service, container_names: [trading_service] }
    respond:
      security_url: "http://127.0.0.1:${secPort}"
      security_token: "${ADMIN}"
      policies:
        - { on: [quarantine], min_priority: critical, action: quarantine, mode: enforce }
`);
});
afterAll(async () => { await t?.stop(); });

async function curl(args: string[]) {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
  const [status] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  return status;
}

test("a quarantine revokes the service's certificate over mTLS; the certificate is then refused at the handshake", async () => {
  const tls = t.host.clientTls!;
  const issued = await fetch(`${t.url("security")}/credentials/trading_service`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` }, tls });
  expect(issued.status).toBe(201);
  const creds = (await issued.json()) as { chain: string; private_key: string; ca: string };
  const f = (name: string, text: string) => { const p = join(t.dir, name); writeFileSync(p, text, { mode: 0o600 }); return p; };
  const as = ["--cacert", f("ca.pem", creds.ca), "--cert", f("svc.pem", creds.chain), "--key", f("svc.key", creds.private_key)];
  expect(await curl([...as, `${t.url("falco")}/health`])).toBe("200");

  const alert = { output: "crypto miner", priority: "Critical", rule: "TradPal Crypto Miner Indicators", time: new Date().toISOString(), tags: ["tradpal", "quarantine"], output_fields: { "container.name": "trading_service", "container.id": "c1", "proc.name": "xmrig" } };
  const posted = await fetch(`${t.url("falco")}/`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(alert), tls });
  expect(posted.status).toBe(200);
  let status = "200";
  for (let i = 0; i < 50 && status === "200"; i++) { await Bun.sleep(100); status = await curl([...as, `${t.url("falco")}/health`]); }
  expect(status).toBe("000"); // refused at the handshake
  expect(t.logs.some((l) => String(l.msg).includes("certificate revocation failed"))).toBe(false);
}, 30_000);
