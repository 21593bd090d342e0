/**
 * Issue #17: `Expect: 100-continue` and services with a bulkhead on the gateway's wire lane, parsed
 * once by the host's front and never tunnelled to the inner Bun.serve (tunnelStats stays put).
 * Expect is answered on this hop, as Envoy (proxy_100_continue off) and nginx do: the front sends
 * `100 Continue` only when the gateway asks for the body (routed, authorised, admitted, an upstream
 * connection holding the request head), the upstream never sees the expectation; a request refused
 * before that gets its final answer with no 100 and the connection closes. curl and a raw socket.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGateway } from "./support";
import type { TestHost } from "../../../test/support/harness";
import { RawConns, pseudoRandom, sha256 } from "../../../test/support/raw-http";
import { tunnelStats } from "../../../src/host/wire/tunnel";
import { bodyUpstream, type BodyUpstream } from "./body-upstream";

const H = "Host: gw.test\r\n";
let t: TestHost;
let up: BodyUpstream;
let held: BodyUpstream;
let port: number;
let dir: string;
const conns = new RawConns(() => port);

beforeAll(async () => {
  up = bodyUpstream((p) => (p === "/early413" ? "early413" : "echo"));
  held = bodyUpstream(() => "hold", 300);
  dir = mkdtempSync(join(tmpdir(), "gw-expect-"));
  t = await startGateway(`    upstream_client: pooled
    max_body_size: 4mb
    services:
      - name: rec
        path_prefix: /rec
        strip_prefix: true
        instances: [{ url: "${up.url}" }]
        health_check: { enabled: false }
      - name: private
        path_prefix: /private
        auth_required: true
        instances: [{ url: "${up.url}" }]
        health_check: { enabled: false }
      - name: bulk
        path_prefix: /bulk
        strip_prefix: true
        instances: [{ url: "${held.url}" }]
        health_check: { enabled: false }
        bulkhead: { max_concurrent: 2, max_queue: 2, queue_timeout: 5s }
`);
  port = t.host.address("gateway")!.port;
});
afterAll(async () => { conns.closeAll(); await t?.stop(); up?.stop(); held?.stop(); rmSync(dir, { recursive: true, force: true }); });
afterEach(() => conns.closeAll());

async function untunnelled<T>(work: () => Promise<T>): Promise<T> {
  const before = tunnelStats.requests;
  const out = await work();
  expect(tunnelStats.requests - before).toBe(0);
  return out;
}

async function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["curl", "-sS", "-v", "--max-time", "20", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

describe("Expect: 100-continue", () => {
  test("curl --data-binary @file with Expect: the 100 comes from the gateway, the body streams, the upstream sees no Expect", async () => {
    const file = join(dir, "upload.bin");
    const data = pseudoRandom(2 * 1024 * 1024 + 5, 11);
    writeFileSync(file, data);
    const r = await untunnelled(() => curl(["-H", "Expect: 100-continue", "--data-binary", `@${file}`, `http://127.0.0.1:${port}/rec/curl`]));
    expect(r.code).toBe(0);
    expect(r.err).toContain("HTTP/1.1 100 Continue");
    expect(JSON.parse(r.out)).toMatchObject({ len: data.length, sha: sha256(data), expect: false, cl: String(data.length) });
  });

  test("curl chunked upload with Expect", async () => {
    const file = join(dir, "chunked.bin");
    const data = pseudoRandom(300_000, 12);
    writeFileSync(file, data);
    const r = await untunnelled(() => curl(["-H", "Expect: 100-continue", "-H", "Transfer-Encoding: chunked", "--data-binary", `@${file}`, `http://127.0.0.1:${port}/rec/curl-chunked`]));
    expect(r.code).toBe(0);
    expect(r.err).toContain("HTTP/1.1 100 Continue");
    expect(JSON.parse(r.out)).toMatchObject({ len: data.length, sha: sha256(data), te: "chunked", expect: false });
  });

  test("a raw client that waits for the 100 before sending its body, then the next request on the connection", async () => {
    const c = await conns.conn();
    await untunnelled(async () => {
      await c.write(`PUT /rec/raw HTTP/1.1\r\n${H}Content-Length: 10\r\nExpect: 100-continue\r\n\r\n`);
      const interim = await c.read();
      expect(interim.status).toBe(100);
      await c.write("0123456789");
      const r = await c.read();
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toMatchObject({ len: 10, sha: sha256("0123456789"), expect: false });
      expect((await c.request(`GET /rec/next HTTP/1.1\r\n${H}\r\n`)).status).toBe(200);
    });
  });

  test("refused before the body (no route, auth, too large): final answer, no 100, connection closed, nothing upstream", async () => {
    const heads = up.heads.length;
    await untunnelled(async () => {
      for (const [target, status, extra] of [["/nowhere", 404, "Content-Length: 10\r\n"], ["/private/x", 401, "Content-Length: 10\r\n"], ["/rec/big", 413, "Content-Length: 99999999\r\n"], ["/nowhere", 404, "Transfer-Encoding: chunked\r\n"]] as const) {
        const c = await conns.conn();
        const r = await c.request(`POST ${target} HTTP/1.1\r\n${H}${extra}Expect: 100-continue\r\n\r\n`);
        expect(r.status).toBe(status);
        expect(r.header("connection")).toBe("close");
        expect(await c.waitClosed(2000)).toBe(true);
      }
    });
    expect(up.heads.length).toBe(heads);
  });

  test("the upstream answers 413 before the body: the client gets 100 (asked by us), then the 413", async () => {
    const c = await conns.conn();
    await untunnelled(async () => {
      await c.write(`POST /rec/early413 HTTP/1.1\r\n${H}Content-Length: 200000\r\nExpect: 100-continue\r\n\r\n`);
      expect((await c.read()).status).toBe(100);
      await c.write(pseudoRandom(200_000, 13));
      const r = await c.read();
      expect(r.status).toBe(413);
      expect(r.body.toString()).toBe("too big!");
      // The body was read on and dropped: the connection still serves.
      expect((await c.request(`GET /rec/after HTTP/1.1\r\n${H}\r\n`)).status).toBe(200);
    });
  });
});

describe("a service with a bulkhead, on the wire lane", () => {
  test("max_concurrent 2 + max_queue 2 under 8 concurrent streamed uploads: 4 served (never more than 2 at once), 4 refused 503", async () => {
    const before = held.got.length;
    const results = await untunnelled(() => Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const c = await conns.conn();
      await c.write(`POST /bulk/u${i} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
      await Bun.sleep(20);
      await c.write(`5\r\nhello\r\n0\r\n\r\n`);
      const r = await c.read({ timeoutMs: 10_000 });
      return { status: r.status, code: r.status === 503 ? JSON.parse(r.body.toString()).error.code : null, retry: r.header("retry-after") };
    })));
    const ok = results.filter((r) => r.status === 200);
    const full = results.filter((r) => r.status === 503);
    expect(ok.length).toBe(4);
    expect(full.length).toBe(4);
    expect(full.every((r) => r.code === "GW_ERR_BULKHEAD_FULL" && r.retry === "1")).toBe(true);
    expect(held.maxConcurrent).toBeLessThanOrEqual(2);
    expect(held.got.length - before).toBe(4);
  });

  test("bodiless requests to a bulkhead service take the wire lane too, and queue for a slot", async () => {
    const statuses = await untunnelled(() => Promise.all(Array.from({ length: 3 }, async () => (await fetch(`http://127.0.0.1:${port}/bulk/get`)).status)));
    expect(statuses).toEqual([200, 200, 200]);
    expect(held.maxConcurrent).toBeLessThanOrEqual(2);
  });
});
