/**
 * Issue #17: HTTP/1.0 requests on the gateway's wire lane (its handler sets `takesHttp10`), parsed once
 * by the host's front, never tunnelled to the inner Bun.serve (tunnelStats stays put). They go upstream
 * as HTTP/1.0, as nginx sends them, so the answer is never chunked (a 1.0 client could not read it: an
 * upstream that chunks anyway is a 502), and the connection closes after the answer.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { startGateway, startUpstream, type Upstream } from "./support";
import type { TestHost } from "../../../test/support/harness";
import { RawConns, pseudoRandom, rawServer, sha256, type RawServer } from "../../../test/support/raw-http";
import { tunnelStats } from "../../../src/host/wire/tunnel";
import { bodyUpstream, type BodyUpstream } from "./body-upstream";

let t: TestHost;
let rec: BodyUpstream;
let bun: Upstream;
let chunky: RawServer;
let port: number;
const conns = new RawConns(() => port);

beforeAll(async () => {
  rec = bodyUpstream();
  bun = startUpstream((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/stream") return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed ")); c.enqueue(new TextEncoder().encode("answer")); c.close(); } }));
    return new Response("plain answer");
  });
  // Not compliant: chunks its answer whatever the request's version.
  chunky = rawServer((s) => { s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"); });
  const svc = (name: string, url: string) => `      - name: ${name}\n        path_prefix: /${name}\n        strip_prefix: true\n        instances: [{ url: "${url}" }]\n        health_check: { enabled: false }\n        retries: { attempts: 0 }\n`;
  t = await startGateway(`    upstream_client: pooled\n    services:\n${svc("rec", rec.url)}${svc("bun", bun.url)}${svc("chunky", chunky.url)}`);
  port = t.host.address("gateway")!.port;
});
afterAll(async () => { conns.closeAll(); await t?.stop(); rec?.stop(); bun?.stop(); chunky?.stop(); });
afterEach(() => conns.closeAll());

async function untunnelled<T>(work: () => Promise<T>): Promise<T> {
  const before = tunnelStats.requests;
  const out = await work();
  expect(tunnelStats.requests - before).toBe(0);
  return out;
}

test("GET without Host, and with Connection: keep-alive: answered, then closed", async () => {
  await untunnelled(async () => {
    for (const extra of ["", "Connection: keep-alive\r\n"]) {
      const c = await conns.conn();
      const r = await c.request(`GET /bun/x HTTP/1.0\r\n${extra}\r\n`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe("plain answer");
      expect(r.header("connection")).toBe("close");
      expect(r.header("transfer-encoding")).toBeNull();
      expect(await c.waitClosed(2000)).toBe(true);
    }
  });
  expect(bun.seen.length).toBeGreaterThanOrEqual(2);
});

test("a streamed upstream answer reaches a 1.0 client unchunked", async () => {
  const c = await conns.conn();
  const r = await untunnelled(() => c.request("GET /bun/stream HTTP/1.0\r\nHost: gw.test\r\n\r\n"));
  expect(r.status).toBe(200);
  expect(r.header("transfer-encoding")).toBeNull();
  expect(r.body.toString()).toBe("streamed answer");
});

test("POST with a Content-Length body sent after its head: goes upstream as HTTP/1.0, body intact", async () => {
  const c = await conns.conn();
  const body = pseudoRandom(300_000, 21);
  const r = await untunnelled(async () => {
    await c.write(`POST /rec/up HTTP/1.0\r\nHost: gw.test\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (let i = 0; i < body.length; i += 64 * 1024) { await Bun.sleep(5); await c.write(body.subarray(i, i + 64 * 1024)); }
    return c.read();
  });
  expect(JSON.parse(r.body.toString())).toMatchObject({ len: body.length, sha: sha256(body) });
  expect(rec.heads[rec.heads.length - 1]).toStartWith("POST /up HTTP/1.0\r\n");
});

test("Expect: 100-continue on HTTP/1.0 is ignored: no 100, the body is read as it comes", async () => {
  const c = await conns.conn();
  const r = await untunnelled(async () => {
    await c.write("PUT /rec/e HTTP/1.0\r\nHost: gw.test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    await Bun.sleep(100);
    expect(c.buf.length).toBe(0); // no interim answer
    await c.write("body");
    return c.read();
  });
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body.toString())).toMatchObject({ len: 4, expect: false });
});

test("an upstream that chunks its answer to a 1.0 request: 502, no chunk reaches the client", async () => {
  const c = await conns.conn();
  const r = await untunnelled(() => c.request("GET /chunky/x HTTP/1.0\r\nHost: gw.test\r\n\r\n"));
  expect(r.status).toBe(502);
  expect(JSON.parse(r.body.toString()).error.code).toBe("GW_ERR_PROXY_FAILED");
  expect(chunky.requests[0].toString("latin1")).toStartWith("GET /x HTTP/1.0\r\n");
});

test("Transfer-Encoding on HTTP/1.0: 400 GW_ERR_AMBIGUOUS_LENGTH, nothing upstream", async () => {
  const heads = rec.heads.length;
  const c = await conns.conn();
  const r = await untunnelled(() => c.request("POST /rec/te HTTP/1.0\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  expect(r.status).toBe(400);
  expect(JSON.parse(r.body.toString()).error.code).toBe("GW_ERR_AMBIGUOUS_LENGTH");
  expect(rec.heads.length).toBe(heads);
});
