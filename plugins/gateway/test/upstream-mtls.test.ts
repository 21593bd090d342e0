/**
 * mTLS to an upstream through the real gateway: a service's `tls: { mode: mutual }` over the gateway's
 * `upstream_tls` files (transport/tls.ts; the options alone are tested in transport/tls.test.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHost, type TestHost } from "../../../test/support/harness";

const dir = mkdtempSync(join(tmpdir(), "edge-e2e-mtls-"));
const f = (n: string) => join(dir, n);
let upstream: ReturnType<typeof Bun.serve> | undefined;
let gw: TestHost | undefined;

function sh(cmd: string) {
  const r = Bun.spawnSync(["sh", "-c", cmd], { cwd: dir });
  if (r.exitCode !== 0) throw new Error(`${cmd}\n${r.stderr.toString()}`);
}

beforeAll(async () => {
  sh(`openssl ecparam -name prime256v1 -genkey -noout -out ca.key && openssl req -x509 -new -key ca.key -subj "/CN=e2e-ca" -days 1 -out ca.pem -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"`);
  for (const [name, usage] of [["upstream", "serverAuth"], ["gateway", "clientAuth"]]) {
    writeFileSync(f(`${name}.ext`), `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\n`);
    sh(`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${name}.key -subj "/CN=${name}" -out ${name}.csr 2>/dev/null && openssl x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out ${name}.pem -extfile ${name}.ext 2>/dev/null`);
  }
  upstream = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    tls: { key: Bun.file(f("upstream.key")), cert: Bun.file(f("upstream.pem")), ca: Bun.file(f("ca.pem")), requestCert: true, rejectUnauthorized: true },
    fetch: () => Response.json({ secure: true }),
  });
  gw = await startHost(
    `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  gateway:\n    port: 0\n    upstream_tls: { cert_file: "${f("gateway.pem")}", key_file: "${f("gateway.key")}", ca_file: "${f("ca.pem")}" }\n    services:\n      - name: vault\n        path_prefix: /vault\n        tls: { mode: mutual }\n        instances:\n          - url: https://127.0.0.1:${upstream.port}\n        health_check: { enabled: false }\n`,
    { only: ["gateway"] },
  );
});

afterAll(async () => {
  await gw?.stop();
  upstream?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

test("the gateway reaches an mTLS upstream; curl without a client certificate is refused", async () => {
  const r = await fetch(`${gw!.url("gateway")}/vault/x`);
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ secure: true });
  const p = Bun.spawn(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert", f("ca.pem"), `https://127.0.0.1:${upstream!.port}/x`], { stdout: "pipe", stderr: "pipe" });
  const [code, exit] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(exit).not.toBe(0);
  expect(code).toBe("000");
});
