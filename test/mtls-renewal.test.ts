/**
 * Renewal without drops (issue 14, Done when 3): the host's certificate is renewed at 2/3 of its life while
 * the host runs, under load, and no request fails. The host starts with a short-lived certificate made
 * here (38 s, issueLeaf backdates 60 s: due at ~5 s); load runs through the gateway (mTLS to a platform
 * upstream, pooled TLS connections) and straight at the upstream, on kept-alive connections and on a new
 * connection per request. After the renewal a new handshake sees the new certificate (openssl s_client).
 *
 * The swap opens a second listener on the port (SO_REUSEPORT) and closes the old one; connections the
 * kernel had queued on the old one at that instant are handed to the new one only with
 * net.ipv4.tcp_migrate_req=1 (Linux 5.14+), else reset. The test sets it for its run when it can (root;
 * it only changes what happens to a closing SO_REUSEPORT listener's queue) and restores it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startHost, tempDir, type TestHost } from "./support/harness";
import { echoPlugin } from "./plugins/echo";
import { loadOrCreateCa } from "../src/lib/pki/ca";
import { issueLeaf } from "../src/lib/pki/issue";
import { hostAltNames } from "../src/host/tls-host-cert";
import { assertKeyPair } from "../src/lib/pki/platform-files";

let t: TestHost;
let pki: string;
let firstSerial: string;
const MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req";
let migrateBefore: string | undefined;

beforeAll(async () => {
  try {
    migrateBefore = readFileSync(MIGRATE, "utf8").trim();
    if (migrateBefore === "0") writeFileSync(MIGRATE, "1");
  } catch { migrateBefore = undefined; }
  pki = join(tempDir(), "pki");
  const ca = await loadOrCreateCa({ dir: pki });
  const short = await issueLeaf(ca, { commonName: "tradpal-host", spiffeId: "spiffe://tradpal.local/host", altNames: hostAltNames(["echo", "gateway", "127.0.0.1"]), ttlMs: 38_000 }); // every name the host wants: not re-issued at start
  writeFileSync(join(pki, "host.key"), short.keyPem, { mode: 0o600 });
  writeFileSync(join(pki, "host.pem"), short.chainPem, { mode: 0o600 });
  firstSerial = short.serial;
  const echoPort = freePort();
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  mtls: { enabled: true, dir: ${pki} }
plugins:
  echo: { port: ${echoPort} }
  gateway:
    port: 0
    upstream_tls: { reload_check: 100ms }
    rate_limiting: { enabled: false }
    services:
      - name: echo
        path_prefix: /api/echo
        strip_prefix: true
        instances: [{ url: "http://127.0.0.1:${echoPort}" }]
        health_check: { path: /health, interval: 1s }
`, { plugins: { echo: echoPlugin } });
});
afterAll(async () => {
  await t?.stop();
  if (migrateBefore === "0") try { writeFileSync(MIGRATE, "0"); } catch { /* as it was */ }
});

/** The serial of the certificate a new connection to `url`'s port is served. */
async function servedSerial(url: string): Promise<string> {
  const p = Bun.spawn(["openssl", "s_client", "-connect", new URL(url).host, "-CAfile", join(pki, "ca.pem"), "-cert", join(pki, "host.pem"), "-key", join(pki, "host.key"), "-verify_return_error"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0] ?? "";
  const x = Bun.spawnSync(["openssl", "x509", "-noout", "-serial"], { stdin: new TextEncoder().encode(pem) });
  return x.stdout.toString().trim().replace(/^serial=/, "").replace(/^0+/, "").toUpperCase();
}

test("the host certificate renews under load: 0 failed requests, new handshakes get the new certificate", async () => {
  expect(await servedSerial(t.url("echo"))).toBe(firstSerial.replace(/^0+/, "").toUpperCase());
  // The clients read the pair as the platform's own readers do (platform-files.ts): a renewal replaces the
  // two files one after the other, so a read between the renames is retried until the key is the certificate's.
  const pairNow = () => {
    for (let i = 0; ; i++) {
      const cert = readFileSync(join(pki, "host.pem"), "utf8"), key = readFileSync(join(pki, "host.key"), "utf8");
      try { assertKeyPair(cert, key, "host.pem and host.key"); return { cert, key }; } catch (err) { if (i >= 100) throw err; }
    }
  };
  const tls = () => ({ ...pairNow(), ca: readFileSync(join(pki, "ca.pem"), "utf8") });
  let bundles = 0;
  const clientDir = tempDir();
  let ok = 0;
  const failures: string[] = [];
  const until = Date.now() + 9_000;
  const loop = async (url: string, fresh: boolean) => {
    while (Date.now() < until) {
      try {
        // A fresh connection each time: a curl process (Bun's fetch keeps its connections alive).
        if (fresh) {
          const pair = pairNow();
          const bundle = join(clientDir, `client-${bundles++}.pem`); // certificate and key in one file: curl reads them together
          writeFileSync(bundle, pair.cert + "\n" + pair.key, { mode: 0o600 });
          const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", join(pki, "ca.pem"), "--cert", bundle, url], { stdout: "pipe", stderr: "pipe" });
          const [code, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
          if (code === "200") ok++; else failures.push(`${url} fresh: ${code} ${err.trim()}`);
        } else {
          const res = await fetch(url, { tls: tls() });
          await res.arrayBuffer();
          if (res.status === 200) ok++; else failures.push(`${url}: ${res.status}`);
        }
      } catch (err) {
        failures.push(`${url}${fresh ? " fresh" : ""}: ${(err as Error).message}`);
      }
    }
  };
  const gw = `${t.url("gateway")}/api/echo/echo`;
  const direct = `${t.url("echo")}/echo`;
  await Promise.all([loop(gw, false), loop(gw, false), loop(gw, false), loop(direct, false), loop(direct, false), loop(gw, true), loop(direct, true)]);
  expect(t.logs.some((l) => String(l.msg).startsWith("renewed the host's mTLS certificate")), "the certificate was renewed during the load").toBe(true);
  expect(failures.slice(0, 5)).toEqual([]);
  expect(ok).toBeGreaterThan(100);
  const renewed = (await servedSerial(t.url("echo")));
  expect(renewed).not.toBe(firstSerial.replace(/^0+/, "").toUpperCase());
  expect(renewed).toBe(await servedSerial(t.url("gateway")));
  console.log(`renewal under load: ${ok} requests, ${failures.length} failed; served serial ${firstSerial} → ${renewed}`);
}, 30_000);
