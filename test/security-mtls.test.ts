/**
 * Platform mTLS (host.mtls.enabled): every plugin listener requires a client certificate from the
 * platform CA; a real TLS handshake with fetch and curl, with and without a certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { startHost, tempDir, type TestHost } from "./support/harness";
import { echoPlugin } from "./plugins/echo";
import { loadOrCreateCa } from "../src/lib/pki/ca";
import { issueLeaf } from "../src/lib/pki/issue";
import { buildCrl } from "../src/lib/pki/crl";

const yaml = `
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  mtls:
    enabled: true
    health_port: 0
plugins:
  echo:
    port: 0
`;

let t: TestHost;
let pki: string;
let files: { cert: string; key: string; ca: string; otherCert: string; otherKey: string };

/** Async: the server under test runs in this process, so a blocking spawn would deadlock it. */
async function curl(args: string[]) {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
  const [status, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, status, err };
}

beforeAll(async () => {
  t = await startHost(yaml, { plugins: { echo: echoPlugin } });
  pki = join(t.dir, "data", "security");
  // A service certificate from the platform CA (as the security plugin would issue it).
  const ca = await loadOrCreateCa({ dir: pki });
  const leaf = await issueLeaf(ca, { commonName: "orders", spiffeId: "spiffe://tradpal.local/service/orders", altNames: ["localhost", "127.0.0.1"], ttlMs: 3_600_000 });
  // And one from a CA the platform does not trust.
  const foreign = await loadOrCreateCa({ dir: join(tempDir(), "foreign") });
  const stranger = await issueLeaf(foreign, { commonName: "intruder", altNames: ["127.0.0.1"], ttlMs: 3_600_000 });
  files = { cert: join(t.dir, "svc.pem"), key: join(t.dir, "svc.key"), ca: join(pki, "ca.pem"), otherCert: join(t.dir, "x.pem"), otherKey: join(t.dir, "x.key") };
  writeFileSync(files.cert, leaf.chainPem);
  writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.otherCert, stranger.chainPem);
  writeFileSync(files.otherKey, stranger.keyPem, { mode: 0o600 });
});

afterAll(async () => { await t?.stop(); });

describe("platform mTLS listeners", () => {
  test("the CA and the host certificate are created on first start with 0600 keys", () => {
    expect(statSync(join(pki, "ca.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(pki, "host.key")).mode & 0o777).toBe(0o600);
    const v = Bun.spawnSync(["openssl", "verify", "-CAfile", join(pki, "ca.pem"), join(pki, "host.pem")]);
    expect(v.stdout.toString()).toContain("OK");
  });

  test("the listener speaks https and the address says so", () => {
    expect(t.url("echo")).toStartWith("https://127.0.0.1:");
  });

  test("fetch without a client certificate is refused at the handshake", async () => {
    const ca = readFileSync(files.ca, "utf8");
    await expect(fetch(`${t.url("echo")}/echo`, { tls: { ca } })).rejects.toThrow();
  });

  test("fetch with the host's own client certificate is accepted", async () => {
    const res = await fetch(`${t.url("echo")}/echo`, { tls: t.host.clientTls! });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ greeting: "hello" });
  });

  test("curl with an issued service certificate is accepted", async () => {
    const r = await curl(["--cacert", files.ca, "--cert", files.cert, "--key", files.key, `${t.url("echo")}/echo`]);
    expect(r.status).toBe("200");
  });

  test("curl without a certificate is refused (TLS alert, no HTTP status)", async () => {
    const r = await curl(["--cacert", files.ca, `${t.url("echo")}/echo`]);
    expect(r.code).not.toBe(0);
    expect(r.status).toBe("000");
  });

  test("curl with a certificate from a foreign CA is refused", async () => {
    const r = await curl(["--cacert", files.ca, "--cert", files.otherCert, "--key", files.otherKey, `${t.url("echo")}/echo`]);
    expect(r.code).not.toBe(0);
    expect(r.status).toBe("000");
  });

  test("/health on the TLS listener needs a certificate too", async () => {
    expect((await curl(["--cacert", files.ca, `${t.url("echo")}/health`])).status).toBe("000");
  });

  test("the plain health listener answers GET /health and /health/<plugin> without a certificate, nothing else", async () => {
    const base = `http://127.0.0.1:${t.host.healthPort}`;
    const all = await fetch(`${base}/health`);
    expect(all.status).toBe(200);
    expect(await all.json()).toMatchObject({ status: "ok", plugins: { echo: "ok" } });
    expect((await fetch(`${base}/health/echo`)).status).toBe(200);
    const other = await fetch(`${base}/echo`);
    expect(other.status).toBe(404);
    expect((await other.json()).error.code).toBe("HOST_ERR_NOT_FOUND");
    expect((await fetch(`${base}/health/nope`)).status).toBe(404);
    // /metrics is not in open_paths (default ["/health"]): not served in the clear.
    expect((await fetch(`${base}/metrics/echo`)).status).toBe(404);
  });
});

describe("platform mTLS with the security plugin: revoked certificates", () => {
  test("after a revocation, the restarted host's listeners refuse the revoked certificate and accept a live one", async () => {
    const { Host } = await import("../src/host/host");
    const dir = tempDir();
    const file = join(dir, "config.yaml");
    writeFileSync(file, `
host:
  data_dir: ${join(dir, "data")}
  bind: 127.0.0.1
  mtls:
    enabled: true
plugins:
  security:
    port: 0
`);
    const mk = () => new Host({ file, only: ["security"], env: { ...process.env, REDIS_URL: "" }, logSink: () => {} });
    const first = mk();
    await first.start();
    let revoked: { chain: string; private_key: string; ca: string };
    let live: { chain: string; private_key: string; ca: string };
    try {
      const base = first.address("security")!.url;
      const admin = readFileSync(join(dir, "data", "security", "admin-token"), "utf8").trim();
      const tls = first.clientTls!;
      const post = async (path: string) => (await fetch(base + path, { method: "POST", headers: { authorization: `Bearer ${admin}` }, tls })).json();
      revoked = await post("/credentials/orders");
      await post("/credentials/orders/revoke");
      live = await post("/credentials/payments");
    } finally {
      await first.stop();
    }
    const second = mk();
    await second.start();
    try {
      const url = `${second.address("security")!.url}/ca/certificate`;
      const f = (n: string, t: string) => { const p = join(dir, n); writeFileSync(p, t, { mode: 0o600 }); return p; };
      const ca = f("ca.pem", live.ca);
      const asRevoked = await curl(["--cacert", ca, "--cert", f("r.pem", revoked.chain), "--key", f("r.key", revoked.private_key), url]);
      expect(asRevoked.status).toBe("000");
      const asLive = await curl(["--cacert", ca, "--cert", f("l.pem", live.chain), "--key", f("l.key", live.private_key), url]);
      expect(asLive.status).toBe("200");
    } finally {
      await second.stop();
    }
  });
});

test("a crl.pem past its nextUpdate is kept out of the TLS context (it would fail every handshake) and still revokes what it lists; the host warns; open_paths /metrics", async () => {
  const dir = join(tempDir(), "pki");
  const ca = await loadOrCreateCa({ dir });
  const victim = await issueLeaf(ca, { commonName: "v", ttlMs: 3_600_000 });
  writeFileSync(join(dir, "crl.pem"), await buildCrl(ca, [{ serial: victim.serial, revokedAt: Date.now() - 120_000 }], -30_000));
  const h = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  mtls:
    enabled: true
    dir: ${dir}
    health_port: 0
    open_paths: ["/health", "/metrics"]
plugins:
  echo:
    port: 0
`, { plugins: { echo: echoPlugin } });
  try {
    expect(h.logs.some((l) => String(l.msg).includes("past its nextUpdate"))).toBe(true);
    const res = await fetch(`${h.url("echo")}/echo`, { tls: h.host.clientTls! });
    expect(res.status).toBe(200);
    // open_paths with /metrics: the plain listener serves GET /metrics/<plugin> too.
    const m = await fetch(`http://127.0.0.1:${h.host.healthPort}/metrics/echo`);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain("tradpal_echo_");
  } finally {
    await h.stop();
  }
});
