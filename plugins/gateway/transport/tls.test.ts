/**
 * mTLS to upstreams with real TLS: a CA made with the openssl CLI, a Bun.serve upstream that requires
 * a client certificate from it. The gateway's options (createUpstreamTls) get through; curl without a
 * client certificate is refused; rotated files are picked up without a restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, rmSync, copyFileSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUpstreamTls, serviceTlsSource } from "./tls";
import { decodeGatewaySettings } from "../schema";
import { mtlsUpstream, testContext } from "../test/support";
import { opensslPki } from "../../../test/support/openssl-pki";

const dir = mkdtempSync(join(tmpdir(), "upstream-tls-"));
const { file: f, makeCa, makeLeaf } = opensslPki(dir);

let upstream: ReturnType<typeof Bun.serve>;
let url: string;
const seen: string[] = [];

beforeAll(() => {
  makeCa("platform-ca");
  makeCa("other-ca");
  makeLeaf("upstream", "platform-ca", "serverAuth");
  makeLeaf("gateway", "platform-ca", "clientAuth");
  makeLeaf("gateway2", "platform-ca", "clientAuth");
  makeLeaf("intruder", "other-ca", "clientAuth");
  upstream = mtlsUpstream(f, "platform-ca", (req) => { seen.push(req.url); return Response.json({ ok: true }); });
  url = `https://127.0.0.1:${upstream.port}/hello`;
});

afterAll(() => {
  upstream?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const defaults = () => decodeGatewaySettings({ upstream_tls: { cert_file: f("gateway.pem"), key_file: f("gateway.key"), ca_file: f("platform-ca.pem") } }).upstream_tls;
/** A service's decoded `tls` block, as the config loader makes it. */
const serviceTls = (tls: Record<string, unknown>) => decodeGatewaySettings({ services: [{ name: "s", path_prefix: "/", tls }] }).services[0].tls;

/** Async: a spawnSync would block the event loop that serves the upstream in this same process. */
async function curl(args: string[]) {
  const p = Bun.spawn(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert", f("platform-ca.pem"), ...args, url], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, exitCode };
}

describe("mTLS to an upstream that requires client certificates", () => {
  test("the gateway's fetch with the transport's options succeeds", async () => {
    const src = createUpstreamTls(serviceTls({ mode: "mutual" }), defaults())!;
    const res = await fetch(url, { tls: src.get() } as RequestInit);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  test("curl without a client certificate is refused; with the gateway's certificate it passes", async () => {
    const without = await curl([]);
    expect(without.exitCode).not.toBe(0);
    expect(without.stdout).toBe("000");
    const withCert = await curl(["--cert", f("gateway.pem"), "--key", f("gateway.key")]);
    expect(withCert.exitCode).toBe(0);
    expect(withCert.stdout).toBe("200");
  });

  test("a client certificate from another CA is refused", async () => {
    const res = await curl(["--cert", f("intruder.pem"), "--key", f("intruder.key")]);
    expect(res.exitCode).not.toBe(0);
    const src = createUpstreamTls(serviceTls({ mode: "mutual", cert_file: f("intruder.pem"), key_file: f("intruder.key") }), defaults())!;
    await expect(fetch(url, { tls: src.get() } as RequestInit)).rejects.toThrow();
  });

  test("mode tls (verify only, no client certificate) cannot reach an mTLS upstream", async () => {
    const src = createUpstreamTls(serviceTls({ mode: "tls" }), defaults())!;
    expect(src.get().cert).toBeUndefined();
    await expect(fetch(url, { tls: src.get() } as RequestInit)).rejects.toThrow();
  });

  test("the upstream is verified against the platform CA: another CA's trust store fails", async () => {
    const src = createUpstreamTls(serviceTls({ mode: "mutual", ca_file: f("other-ca.pem") }), defaults())!;
    await expect(fetch(url, { tls: src.get() } as RequestInit)).rejects.toThrow();
  });

  test("serviceTlsSource builds the same options from a service's tls block, whatever auth is configured; mode none → plain HTTP (undefined)", async () => {
    const files = defaults();
    expect(serviceTlsSource(serviceTls({}), files, testContext())).toBeUndefined();
    const src = serviceTlsSource(serviceTls({ mode: "mutual" }), files, testContext())!;
    expect((await fetch(url, { tls: src.get() } as RequestInit)).status).toBe(200);
  });

  test("no files configured: the platform's host certificate and CA (data_dir/security) are used", async () => {
    const data = join(dir, "data");
    mkdirSync(join(data, "security"), { recursive: true });
    copyFileSync(f("gateway.pem"), join(data, "security", "host.pem"));
    copyFileSync(f("gateway.key"), join(data, "security", "host.key"));
    copyFileSync(f("platform-ca.pem"), join(data, "security", "ca.pem"));
    const none = decodeGatewaySettings({}).upstream_tls;
    const src = serviceTlsSource(serviceTls({ mode: "mutual" }), none, testContext({ data_dir: data }))!;
    expect((await fetch(url, { tls: src.get() } as RequestInit)).status).toBe(200);
    // and without platform files, a clear provision-time error
    expect(() => serviceTlsSource(serviceTls({ mode: "mutual" }), none, testContext({ data_dir: join(dir, "nowhere") }))).toThrow(/host\.mtls/);
  });

  test("missing files are a provision-time error that names the key", () => {
    expect(() => createUpstreamTls(serviceTls({ mode: "mutual" }), decodeGatewaySettings({ upstream_tls: { ca_file: f("platform-ca.pem") } }).upstream_tls)).toThrow(/cert_file/);
    expect(() => createUpstreamTls(serviceTls({ mode: "tls" }), decodeGatewaySettings({}).upstream_tls)).toThrow(/CA file/);
    expect(() => createUpstreamTls(serviceTls({ mode: "mutual", cert_file: f("nope.pem") }), defaults())).toThrow();
  });
});

describe("rotation without restart", () => {
  test("new files are read after their mtime changes; a half-written pair is not used", async () => {
    copyFileSync(f("gateway.pem"), f("rot.pem"));
    copyFileSync(f("gateway.key"), f("rot.key"));
    const src = createUpstreamTls(serviceTls({ mode: "mutual", cert_file: f("rot.pem"), key_file: f("rot.key") }), defaults(), { checkEveryMs: 0 })!;
    const before = src.get();
    expect(src.loads).toBe(1);
    expect(src.get()).toBe(before); // unchanged files → same object, no re-read

    // Half-way through a rotation: new cert, old key → mismatch, keep serving the old pair.
    copyFileSync(f("gateway2.pem"), f("rot.pem"));
    utimesSync(f("rot.pem"), new Date(), new Date(Date.now() + 2000));
    expect(src.get()).toBe(before);

    copyFileSync(f("gateway2.key"), f("rot.key"));
    utimesSync(f("rot.key"), new Date(), new Date(Date.now() + 3000));
    const after = src.get();
    expect(after).not.toBe(before);
    expect(after.cert).toBe(await Bun.file(f("gateway2.pem")).text());
    expect(src.loads).toBe(2);
    const res = await fetch(url, { tls: after } as RequestInit);
    expect(res.status).toBe(200);
  });
});
