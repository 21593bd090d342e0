/**
 * https instances through the real gateway: TLS (and mTLS with the service's `tls` block over the
 * gateway's `upstream_tls` files, transport/tls.ts) on pooled keep-alive connections on the wire lane,
 * real handshakes against a Bun.serve upstream that requires client certificates. Certificates are
 * made with openssl for this test (the options alone: transport/tls.test.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { startHost, type TestHost } from "../../../test/support/harness";
import { opensslPki } from "../../../test/support/openssl-pki";
import { mtlsUpstream } from "./support";

const dir = mkdtempSync(join(tmpdir(), "gw-tls-relay-"));
const { file: f, makeCa, makeLeaf } = opensslPki(dir);
const ports: number[] = [];
let upstream: Server<unknown>;
let gw: TestHost;

const big = Buffer.alloc(1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;

beforeAll(async () => {
  makeCa("ca");
  makeCa("other-ca");
  makeLeaf("upstream", "ca", "serverAuth");
  makeLeaf("gateway", "ca", "clientAuth");
  upstream = mtlsUpstream(f, "ca", (req, server) => {
    ports.push(server.requestIP(req)?.port ?? 0);
    if (new URL(req.url).pathname.endsWith("/big")) return new Response(big);
    return Response.json({ secure: true, xff: req.headers.get("x-forwarded-for"), ae: req.headers.get("accept-encoding") });
  });
  const svc = (name: string, prefix: string, tls: string) =>
    `      - name: ${name}\n        path_prefix: ${prefix}\n        tls: ${tls}\n        instances:\n          - url: https://127.0.0.1:${upstream.port}\n        health_check: { enabled: false }\n        retries: { attempts: 0 }\n        outlier: { enabled: false }\n`;
  gw = await startHost(
    `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  gateway:\n    port: 0\n    rate_limiting: { enabled: false }\n    upstream_client: pooled\n` +
      `    upstream_tls: { cert_file: "${f("gateway.pem")}", key_file: "${f("gateway.key")}", ca_file: "${f("ca.pem")}" }\n    services:\n` +
      svc("mutual", "/mutual", "{ mode: mutual }") +
      svc("wrongca", "/wrongca", `{ mode: mutual, ca_file: "${f("other-ca.pem")}" }`) +
      svc("nocert", "/nocert", "{ mode: tls }"),
    { only: ["gateway"] },
  );
});

afterAll(async () => {
  await gw?.stop();
  upstream?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

test("mTLS upstream through the wire lane: 200, forwarding headers, and pooled TLS connections are reused", async () => {
  ports.length = 0;
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${gw.url("gateway")}/mutual/x`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ secure: true, xff: "127.0.0.1" });
  }
  // 20 sequential requests over keep-alive: one TLS connection (one handshake), not twenty.
  expect(new Set(ports).size).toBe(1);
  // Relayed as the client sent it: curl sends no Accept-Encoding, and none is added on the way.
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", `${gw.url("gateway")}/mutual/x`], { stdout: "pipe" });
  const [text] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(JSON.parse(text)).toEqual({ secure: true, xff: "127.0.0.1", ae: null });
});

test("the gateway reaches the mTLS upstream; curl without a client certificate is refused by it", async () => {
  const r = await fetch(`${gw.url("gateway")}/mutual/x`);
  expect(r.status).toBe(200);
  expect(await r.json()).toMatchObject({ secure: true });
  const p = Bun.spawn(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert", f("ca.pem"), `https://127.0.0.1:${upstream.port}/x`], { stdout: "pipe", stderr: "pipe" });
  const [code, exit] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(exit).not.toBe(0);
  expect(code).toBe("000");
});

test("a 1 MB body over the TLS relay arrives intact", async () => {
  const r = await fetch(`${gw.url("gateway")}/mutual/big`);
  expect(r.status).toBe(200);
  expect(Buffer.from(await r.arrayBuffer()).equals(big)).toBe(true);
});

test("an upstream whose certificate does not chain to the configured CA: 502 GW_ERR_PROXY_UPSTREAM_CONNECT", async () => {
  const r = await fetch(`${gw.url("gateway")}/wrongca/x`);
  expect(r.status).toBe(502);
  const body = (await r.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("GW_ERR_PROXY_UPSTREAM_CONNECT");
});

test("no client certificate for an upstream that requires one: 502, never a hang", async () => {
  const t0 = performance.now();
  const r = await fetch(`${gw.url("gateway")}/nocert/x`);
  expect(r.status).toBe(502);
  const body = (await r.json()) as { error: { code: string } };
  expect(["GW_ERR_PROXY_UPSTREAM_CONNECT", "GW_ERR_PROXY_UPSTREAM_RESET"]).toContain(body.error.code);
  expect(performance.now() - t0).toBeLessThan(5000);
});

/** A body of unknown length: the front hands the request to the fetch lane (Bun.serve), whose pooled client sends it. */
const streamed = () => new ReadableStream<Uint8Array>({ start(c) { c.enqueue(new TextEncoder().encode("hello")); c.close(); } });

test("the fetch lane (a streamed upload) reaches the same mTLS upstream on the pool's TLS connections", async () => {
  const r = await fetch(`${gw.url("gateway")}/mutual/up`, { method: "POST", body: streamed(), duplex: "half" } as RequestInit);
  expect(r.status).toBe(200);
  expect(await r.json()).toMatchObject({ secure: true, xff: "127.0.0.1" });
  const bad = await fetch(`${gw.url("gateway")}/wrongca/up`, { method: "POST", body: streamed(), duplex: "half" } as RequestInit);
  expect(bad.status).toBe(502);
  expect((await bad.json()).error.code).toBe("GW_ERR_PROXY_UPSTREAM_CONNECT");
});
