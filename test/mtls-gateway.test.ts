/**
 * Platform mTLS inside one host: the gateway's route to a platform plugin written `http://` is upgraded
 * to https with the host's certificate (no tls block in the config), and its /health fails, naming the
 * reason, when a platform upstream is unreachable for TLS reasons (here: verified against a foreign CA).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { freePort, startHost, tempDir, type TestHost } from "./support/harness";
import { echoPlugin } from "./plugins/echo";
import { loadOrCreateCa } from "../src/lib/pki/ca";
import { issueLeaf } from "../src/lib/pki/issue";
import { writeFileSync } from "node:fs";

let t: TestHost;
let foreignCa: string;

beforeAll(async () => {
  const foreign = join(tempDir(), "foreign");
  await loadOrCreateCa({ dir: foreign });
  const echoPort = freePort();
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  mtls:
    enabled: true
plugins:
  echo:
    port: ${echoPort}
  gateway:
    port: 0
    services:
      - name: echo
        path_prefix: /api/echo
        strip_prefix: true
        instances: [{ url: "http://127.0.0.1:${echoPort}" }]
        health_check: { path: /health, interval: 100ms }
      - name: orders-only
        path_prefix: /api/orders-only
        strip_prefix: true
        instances: [{ url: "http://127.0.0.1:${echoPort}" }]
        require_spiffe: [spiffe://tradpal.local/service/orders]
`, { plugins: { echo: echoPlugin } });
  // For the second part: the same platform port, verified against a CA the platform does not use.
  foreignCa = join(foreign, "ca.pem");
});

afterAll(async () => { await t?.stop(); });

const get = (path: string) => fetch(t.url("gateway") + path, { tls: t.host.clientTls! });

test("an http:// instance on a platform port is called with https and the host's certificate", async () => {
  const res = await get("/api/echo/echo");
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ greeting: "hello" });
  expect(t.logs.some((l) => String(l.msg).startsWith("platform mTLS: service instances are platform listeners") && l.service === "echo")).toBe(true);
  await Bun.sleep(300); // a few health checks over mTLS
  const health = await get("/health");
  expect(health.status).toBe(200);
  expect((await health.json()).checks.services.echo).toBe("1/1 available");
});

test("/health fails naming the TLS reason when the platform upstream cannot be verified; recovers when fixed", async () => {
  const text = (await Bun.file(t.file).text()).replace('health_check: { path: /health, interval: 100ms }', `health_check: { path: /health, interval: 100ms }\n        tls: { mode: mutual, ca_file: "${foreignCa}" }`);
  expect((await t.rewrite(text)).ok).toBe(true);
  let body: any;
  for (let i = 0; i < 50; i++) {
    const res = await get("/health");
    body = await res.json();
    if (res.status === 503) break;
    await Bun.sleep(50);
  }
  expect(body.status).toBe("unavailable");
  expect(body.reason).toContain("platform service echo unreachable over mTLS");
  expect(body.reason).toMatch(/CERT|SIGNED|VERIFY|certificate/i);
  const proxied = await get("/api/echo/echo");
  expect(proxied.status).toBeGreaterThanOrEqual(502);
  expect((await proxied.json()).error.code).toStartWith("GW_ERR_");
  // Back to the platform's own files: ready again.
  expect((await t.rewrite(text.replace(/\n {8}tls: \{[^\n]*\}/, ""))).ok).toBe(true);
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) { await Bun.sleep(50); status = (await get("/health")).status; }
  expect(status).toBe(200);
});

/** curl (async: the host runs in this process) with a client certificate; -w status; extra args. */
async function curl(args: string[]) {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const nl = out.lastIndexOf("\n");
  return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl), err };
}

test("require_spiffe: the caller's SPIFFE ID from its certificate decides, on both lanes (wire, and a chunked body on the fetch lane)", async () => {
  const pki = join(t.dir, "data", "security");
  const ca = await loadOrCreateCa({ dir: pki });
  const leaf = await issueLeaf(ca, { commonName: "orders", spiffeId: "spiffe://tradpal.local/service/orders", altNames: ["127.0.0.1"], ttlMs: 3_600_000 });
  const cert = join(t.dir, "orders.pem"), key = join(t.dir, "orders.key");
  writeFileSync(cert, leaf.chainPem);
  writeFileSync(key, leaf.keyPem, { mode: 0o600 });
  const base = ["--cacert", join(pki, "ca.pem")];
  const asHost = [...base, "--cert", join(pki, "host.pem"), "--key", join(pki, "host.key")];
  const asOrders = [...base, "--cert", cert, "--key", key];
  const target = `${t.url("gateway")}/api/orders-only/echo`;
  for (const lane of [[], ["-X", "GET", "-H", "transfer-encoding: chunked", "--data-binary", "x"]]) {
    const refused = await curl([...asHost, ...lane, target]);
    expect(refused.status, refused.body + refused.err).toBe(403);
    const e = JSON.parse(refused.body).error;
    expect(e.code).toBe("GW_ERR_PEER_FORBIDDEN");
    expect(e.message).toContain("spiffe://tradpal.local/host");
    const ok = await curl([...asOrders, ...lane, target]);
    expect(ok.status, ok.body + ok.err).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ greeting: "hello" });
  }
  // A client cannot claim an identity with the header the front uses internally.
  const forged = await curl([...asHost, "-H", "x-tradpal-peer-spiffe: spiffe://tradpal.local/service/orders", target]);
  expect(forged.status).toBe(403);
});
