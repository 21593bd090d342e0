/**
 * Request smuggling and size limits, checked on the wire with a raw TCP client: the gateway answers
 * 400/413/431 (or closes) and the upstream never sees the request.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startGateway, startUpstream, service, rawRequest, type Upstream } from "./support";
import type { TestHost } from "../../../test/support/harness";

let t: TestHost;
let port: number;
let up: Upstream;

beforeAll(async () => {
  up = startUpstream(async (req) => Response.json({ got: (await req.arrayBuffer()).byteLength }));
  t = await startGateway(`    max_body_size: 1kb
    max_header_size: 2kb
    services:
${service("api", "/api", [up.url], "        health_check: { enabled: false }\n")}`);
  port = Number(new URL(t.url("gateway")).port);
});
afterAll(async () => { await t?.stop(); up?.stop(); });

/** Status of a raw reply, or "closed" when the server hung up without one. */
function statusOf(reply: string): string {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(reply);
  return m ? m[1] : "closed";
}

const smuggling: [string, string][] = [
  ["Content-Length and Transfer-Encoding together", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
  ["two different Content-Length headers", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"],
  ["two equal Content-Length headers", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"],
  ["a Content-Length list", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd"],
  ["an obfuscated Transfer-Encoding", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked, identity", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"],
  ["a negative Content-Length", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"],
];

for (const [name, bytes] of smuggling) {
  test(`smuggling: ${name} → 400 or closed, upstream untouched`, async () => {
    const before = up.hits;
    const reply = await rawRequest(port, bytes);
    expect(["400", "closed"]).toContain(statusOf(reply));
    expect(up.hits).toBe(before);
  });
}

test("a well-formed chunked POST still passes", async () => {
  const reply = await rawRequest(port, "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
  expect(statusOf(reply)).toBe("200");
  expect(reply).toContain('{"got":4}');
});

test("a Content-Length above max_body_size → 413 GW_ERR_BODY_TOO_LARGE before any upstream call", async () => {
  const before = up.hits;
  const r = await fetch(`${t.url("gateway")}/api/x`, { method: "POST", body: "x".repeat(2048) });
  expect(r.status).toBe(413);
  expect((await r.json()).error.code).toBe("GW_ERR_BODY_TOO_LARGE");
  expect(up.hits).toBe(before);
});

test("a chunked body that grows past max_body_size → 413", async () => {
  const reply = await rawRequest(port, `POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n${"y".repeat(2048)}\r\n0\r\n\r\n`);
  expect(statusOf(reply)).toBe("413");
  expect(reply).toContain("GW_ERR_BODY_TOO_LARGE");
});

test("a body within the limit passes", async () => {
  const r = await fetch(`${t.url("gateway")}/api/x`, { method: "POST", body: "x".repeat(1000) });
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ got: 1000 });
});

test("headers above max_header_size → 431 GW_ERR_HEADERS_TOO_LARGE, upstream untouched", async () => {
  const before = up.hits;
  const r = await fetch(`${t.url("gateway")}/api/x`, { headers: { "x-big": "z".repeat(3000) } });
  expect(r.status).toBe(431);
  expect((await r.json()).error.code).toBe("GW_ERR_HEADERS_TOO_LARGE");
  expect(up.hits).toBe(before);
});

test("headers above Bun's own 16 KiB parser limit are refused too (431 or closed)", async () => {
  const before = up.hits;
  const reply = await rawRequest(port, `GET /api/x HTTP/1.1\r\nHost: x\r\nX-Huge: ${"h".repeat(20_000)}\r\n\r\n`);
  expect(["431", "400", "closed"]).toContain(statusOf(reply));
  expect(up.hits).toBe(before);
});
