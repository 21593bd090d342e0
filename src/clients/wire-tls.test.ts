/**
 * The clients' transport over https with the platform's mTLS material, made by the platform's own CA
 * code (src/lib/pki): a Bun.serve that requires a client certificate from that CA. The client presents
 * its certificate, verifies the server's against the CA and its name against the URL's host; an
 * unknown CA, a certificate for another name, a missing or foreign client certificate are refused.
 * Also: the response body limit (Content-Length announced, and chunked past it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateCa, type CertificateAuthority } from "../lib/pki/ca";
import { issueLeaf, type IssuedLeaf } from "../lib/pki/issue";
import { requestJson, ServiceError } from "./http";
import { openConnections, setPipelining } from "./wire-pool";

const dir = mkdtempSync(join(tmpdir(), "wire-tls-"));
let ca: CertificateAuthority, other: CertificateAuthority;
let client: IssuedLeaf, intruder: IssuedLeaf;
let server: ReturnType<typeof Bun.serve>, misnamed: ReturnType<typeof Bun.serve>, plain: ReturnType<typeof Bun.serve>;
let served = 0;

beforeAll(async () => {
  ca = await loadOrCreateCa({ dir: join(dir, "ca") });
  other = await loadOrCreateCa({ dir: join(dir, "other") });
  const hour = 3_600_000;
  const leaf = await issueLeaf(ca, { commonName: "events", altNames: ["127.0.0.1", "localhost"], ttlMs: hour });
  const wrongName = await issueLeaf(ca, { commonName: "elsewhere", altNames: ["elsewhere.test"], ttlMs: hour });
  client = await issueLeaf(ca, { commonName: "trading_service", ttlMs: hour });
  intruder = await issueLeaf(other, { commonName: "trading_service", ttlMs: hour });
  const mtls = (l: IssuedLeaf) => ({ cert: l.chainPem, key: l.keyPem, ca: ca.rootPem, requestCert: true, rejectUnauthorized: true });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: mtls(leaf), fetch: (req) => { served++; return Response.json({ ok: true, served, path: new URL(req.url).pathname }); } });
  misnamed = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: mtls(wrongName), fetch: () => Response.json({ ok: true }) });
  plain = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    fetch(req) {
      const path = new URL(req.url).pathname;
      let n = 0;
      // 20 MiB in 1 MiB chunks (no length: chunked), or 3 MiB of JSON with a Content-Length (many packets).
      if (path === "/huge-chunked") return new Response(new ReadableStream({ pull(c) { if (n++ < 20) c.enqueue(new Uint8Array(1 << 20).fill(32)); else c.close(); } }));
      if (path === "/huge-length") return new Response(Buffer.alloc(17 << 20, 32), { headers: { "content-type": "application/json" } });
      return Response.json({ s: "x".repeat(3 << 20) });
    },
  });
});
afterAll(() => {
  server?.stop(true); misnamed?.stop(true); plain?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const tlsOf = (l: IssuedLeaf, trust = ca) => ({ cert: l.chainPem, key: l.keyPem, ca: trust.rootPem });
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a failure"); }, (e) => e as ServiceError);

test("https with the platform's mTLS material: the client certificate is presented, the server verified; requests reuse the connection", async () => {
  const tls = tlsOf(client);
  const url = `https://127.0.0.1:${server.port}/x`;
  const before = served;
  for (let i = 0; i < 3; i++) expect(await requestJson<{ ok: boolean }>(url, { tls })).toMatchObject({ ok: true });
  expect(served - before).toBe(3);
  // By name too (the certificate has DNS:localhost): SNI and the name check use the URL's host.
  expect(await requestJson<{ ok: boolean }>(`https://localhost:${server.port}/x`, { tls })).toMatchObject({ ok: true });
});

test("a server certificate from another CA is refused (no answer: status 0), as is one for another name", async () => {
  const wrongCa = await failure(requestJson(`https://127.0.0.1:${server.port}/x`, { tls: tlsOf(client, other), timeoutMs: 3000 }));
  expect(wrongCa).toBeInstanceOf(ServiceError);
  expect([wrongCa.status, wrongCa.code]).toEqual([0, "CLIENT_ERR_UNREACHABLE"]);
  const wrongName = await failure(requestJson(`https://127.0.0.1:${misnamed.port}/x`, { tls: tlsOf(client), timeoutMs: 3000 }));
  expect([wrongName.status, wrongName.code]).toEqual([0, "CLIENT_ERR_UNREACHABLE"]);
});

test("the server refuses a client without a certificate, or with one from another CA", async () => {
  const before = served;
  const none = await failure(requestJson(`https://127.0.0.1:${server.port}/x`, { tls: { ca: ca.rootPem }, timeoutMs: 3000 }));
  expect([none.status, none.code]).toEqual([0, "CLIENT_ERR_UNREACHABLE"]);
  const foreign = await failure(requestJson(`https://127.0.0.1:${server.port}/x`, { tls: { cert: intruder.chainPem, key: intruder.keyPem, ca: ca.rootPem }, timeoutMs: 3000 }));
  expect([foreign.status, foreign.code]).toEqual([0, "CLIENT_ERR_UNREACHABLE"]);
  expect(served).toBe(before);
});

test("response bodies: 3 MiB over many packets is read; past 16 MiB (announced or chunked) is a coded error", async () => {
  const big = await requestJson<{ s: string }>(`http://127.0.0.1:${plain.port}/big`);
  expect(big.s.length).toBe(3 << 20);
  for (const path of ["/huge-length", "/huge-chunked"]) {
    const err = await failure(requestJson(`http://127.0.0.1:${plain.port}${path}`, { timeoutMs: 5000 }));
    expect(err).toBeInstanceOf(ServiceError);
    expect([err.status, err.code, err.retryable]).toEqual([200, "CLIENT_ERR_RESPONSE_TOO_LARGE", false]);
  }
  // The connections that carried them are gone; the next request works on a fresh one.
  expect((await requestJson<{ s: string }>(`http://127.0.0.1:${plain.port}/big`)).s.length).toBe(3 << 20);
});

test("pipelined over mTLS: 64 concurrent GETs are all answered, each with its own answer, over at most 8 connections", async () => {
  const tls = tlsOf(client);
  const before = openConnections();
  const rs = await Promise.all(Array.from({ length: 64 }, (_, i) => requestJson<{ path: string }>(`https://127.0.0.1:${server.port}/p${i}`, { tls })));
  rs.forEach((r, i) => expect(r.path).toBe(`/p${i}`));
  expect(openConnections() - before).toBeLessThanOrEqual(8);
});

test("an answer past 16 MiB in the middle of a pipeline: the one before is read, that one refused, the one after fails (connection closed)", async () => {
  const before = setPipelining({ connections: 1 }); // one connection's pipeline: the pool would spread these three over three
  try {
  const at = (path: string) => requestJson<{ s: string }>(`http://127.0.0.1:${plain.port}${path}`, { timeoutMs: 5000 }).then((r) => r, (e: ServiceError) => e);
  const [a, b, c] = await Promise.all([at("/big"), at("/huge-length"), at("/big")]);
  expect((a as { s: string }).s.length).toBe(3 << 20);
  expect([(b as ServiceError).status, (b as ServiceError).code]).toEqual([200, "CLIENT_ERR_RESPONSE_TOO_LARGE"]);
  expect([(c as ServiceError).status, (c as ServiceError).code, (c as ServiceError).retryable]).toEqual([0, "CLIENT_ERR_UNREACHABLE", true]);
  } finally { setPipelining(before); }
});
