/**
 * The wire contract for request bodies (src/core/wire.ts, issue #17), through a real host with two
 * test-only plugins: "wholeonly" (no opt-in) must still only ever be offered whole bodies — streamed
 * bodies, Expect and HTTP/1.0 go to its app through the tunnel, as before — while "streamer"
 * (`streamsBodies`) is offered them and reads them with client.readBody: framing removed, the 100
 * Continue sent only when it asks, a body it never reads dropped so the connection carries on, bad
 * framing reported to it. Exact bytes in, exact bytes checked.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../src/core/plugin";
import type { WireClient, WireHandler, WireRequest } from "../src/core/wire";
import { tunnelStats } from "../src/host/wire/tunnel";
import { startHost, type TestHost } from "./support/harness";
import { RawConns, pseudoRandom, sha256 } from "./support/raw-http";

/** What each wire handler was offered: target, whether its body was whole, whether it had Expect, its minor version. */
const offered: { plugin: string; target: string; whole: boolean; expect: boolean; minor: number }[] = [];

function reply(client: WireClient, status: number, body: string, keepAlive: boolean): void {
  client.write(`HTTP/1.1 ${status} X\r\ncontent-length: ${body.length}\r\n${keepAlive ? "" : "connection: close\r\n"}\r\n${body}`);
  client.done(keepAlive);
}

const schema = Type.Object({}, { additionalProperties: false });
const app = () => new Elysia().post("/*", async ({ request }) => {
  const b = new Uint8Array(await request.arrayBuffer());
  return new Response(`app ${b.length} ${sha256(b)}`);
});

const wholeonly = definePlugin({
  id: "wholeonly", description: "test: a wire handler without opt-ins", defaultPort: 0, schema,
  serve: { wire: true },
  async provision() {
    const a = app();
    const wire: WireHandler = (req, client) => {
      offered.push({ plugin: "wholeonly", target: req.target, whole: req.body !== null || req.contentLength <= 0 && !req.chunked, expect: req.expect, minor: req.minor });
      if (!req.target.startsWith("/fast")) return false;
      reply(client, 200, `wire ${req.body?.length ?? 0}`, req.keepAlive);
      return true;
    };
    return { app: a, fetch: (r) => a.handle(r), wire, async stop() {} };
  },
});

const streamer = definePlugin({
  id: "streamer", description: "test: a wire handler that streams bodies", defaultPort: 0, schema,
  serve: { wire: true },
  async provision() {
    const a = app();
    const handle = (req: WireRequest, client: WireClient): boolean => {
      offered.push({ plugin: "streamer", target: req.target, whole: req.body !== null || req.contentLength <= 0 && !req.chunked, expect: req.expect, minor: req.minor });
      if (req.target.startsWith("/early")) { reply(client, 413, "no thanks", req.keepAlive); return true; }
      if (req.body !== null || (!req.chunked && req.contentLength <= 0)) { reply(client, 200, `whole ${req.body?.length ?? 0}`, req.keepAlive); return true; }
      const parts: Buffer[] = [];
      let calls = 0;
      const read = () => client.readBody({
        data(bytes) { calls++; parts.push(Buffer.from(bytes)); return true; },
        end() { const b = Buffer.concat(parts); reply(client, 200, `read ${b.length} ${sha256(b)} ${b.length < 64 ? b.toString("latin1") : ""}|${calls}`, req.keepAlive); },
        fail(message) { reply(client, 400, message, false); },
      });
      const wait = Number(new URL(req.target, "http://x").searchParams.get("wait") ?? 0);
      if (wait > 0) setTimeout(read, wait); else read();
      return true;
    };
    return { app: a, fetch: (r) => a.handle(r), wire: Object.assign(handle, { streamsBodies: true }), async stop() {} };
  },
});

let t: TestHost;
const ports: Record<string, number> = {};
const conns = new RawConns(() => ports.streamer);

beforeAll(async () => {
  t = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  wholeonly:\n    port: 0\n  streamer:\n    port: 0\n`, { plugins: { wholeonly, streamer } });
  for (const id of ["wholeonly", "streamer"]) ports[id] = t.host.address(id)!.port;
});
afterAll(async () => { conns.closeAll(); await t?.stop(); });
afterEach(() => { offered.length = 0; conns.closeAll(); });

const H = "Host: test\r\n";

describe("a handler without opt-ins", () => {
  test("is offered whole bodies only: chunked, split Content-Length, Expect and HTTP/1.0 reach its app through the tunnel", async () => {
    const c = await conns.conn(ports.wholeonly);
    const before = tunnelStats.requests;
    const chunked = await c.request(`POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expect(chunked.body.toString()).toBe(`app 5 ${sha256("hello")}`);
    await c.write(`POST /b HTTP/1.1\r\n${H}Content-Length: 6\r\n\r\nabc`);
    await Bun.sleep(30);
    await c.write("def");
    expect((await c.read()).body.toString()).toBe(`app 6 ${sha256("abcdef")}`);
    await c.write(`POST /c HTTP/1.1\r\n${H}Content-Length: 2\r\nExpect: 100-continue\r\n\r\n`);
    expect((await c.read()).status).toBe(100); // Bun.serve's, behind the tunnel
    expect((await c.request("xy")).body.toString()).toBe(`app 2 ${sha256("xy")}`);
    const whole = await c.request(`POST /fast HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`);
    expect(whole.body.toString()).toBe("wire 3");
    const c10 = await conns.conn(ports.wholeonly);
    expect((await c10.request(`POST /d HTTP/1.0\r\nContent-Length: 1\r\n\r\nz`)).body.toString()).toBe(`app 1 ${sha256("z")}`);
    expect(tunnelStats.requests - before).toBe(4);
    expect(offered.every((o) => o.whole && !o.expect && o.minor === 1)).toBe(true);
    expect(offered.map((o) => o.target)).toEqual(["/fast"]);
  });
});

describe("a handler with streamsBodies", () => {
  test("reads a chunked body with the framing removed (extensions, trailers), one run per read; nothing tunnelled", async () => {
    const c = await conns.conn();
    const before = tunnelStats.requests;
    const r = await c.request(`POST /r HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n1\r\nd\r\n1\r\ne\r\n0\r\nX-T: 1\r\n\r\n`);
    expect(r.body.toString()).toBe(`read 5 ${sha256("abcde")} abcde|1`);
    const big = pseudoRandom(3 * 1024 * 1024, 3);
    await c.write(`PUT /big HTTP/1.1\r\n${H}Content-Length: ${big.length}\r\n\r\n`);
    for (let i = 0; i < big.length; i += 256 * 1024) await c.write(big.subarray(i, i + 256 * 1024));
    expect((await c.read({ timeoutMs: 10_000 })).body.toString()).toStartWith(`read ${big.length} ${sha256(big)} |`);
    expect(tunnelStats.requests).toBe(before);
  });

  test("Expect: 100-continue: the 100 is sent when the handler asks for the body, not before", async () => {
    const c = await conns.conn();
    await c.write(`POST /r?wait=200 HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`);
    await Bun.sleep(100);
    expect(c.buf.length).toBe(0);
    expect((await c.read()).status).toBe(100);
    expect((await c.request("body")).body.toString()).toBe(`read 4 ${sha256("body")} body|1`);
    expect(offered[0]).toMatchObject({ expect: true, whole: false });
  });

  test("answered without reading the body: the rest is dropped and the next request served; past 1 MiB the connection closes; unasked Expect closes", async () => {
    const c = await conns.conn();
    await c.write(`POST /early HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n${"a".repeat(1000)}`);
    expect((await c.read()).status).toBe(413);
    await c.write("a".repeat(99_000) + `GET /r HTTP/1.1\r\n${H}\r\n`);
    expect((await c.read()).body.toString()).toBe("whole 0");
    const big = await conns.conn();
    await big.write(`POST /early HTTP/1.1\r\n${H}Content-Length: 5000000\r\n\r\n`);
    expect((await big.read()).status).toBe(413);
    void big.write(Buffer.alloc(2 * 1024 * 1024, 98)).catch(() => undefined);
    expect(await big.waitClosed(3000)).toBe(true);
    const ex = await conns.conn();
    await ex.write(`POST /early HTTP/1.1\r\n${H}Content-Length: 10\r\nExpect: 100-continue\r\n\r\n`);
    expect((await ex.read()).status).toBe(413);
    expect(await ex.waitClosed(2000)).toBe(true);
  });

  test("bad chunk framing is reported to the handler (its 400), then the connection closes", async () => {
    const c = await conns.conn();
    const r = await c.request(`POST /r HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n`);
    expect(r.status).toBe(400);
    expect(r.body.toString()).toStartWith("malformed chunked body");
    expect(await c.waitClosed(2000)).toBe(true);
  });

  test("without takesHttp10 an HTTP/1.0 request still goes to the app", async () => {
    const c = await conns.conn();
    const before = tunnelStats.requests;
    expect((await c.request(`POST /d HTTP/1.0\r\nContent-Length: 1\r\n\r\nz`)).body.toString()).toBe(`app 1 ${sha256("z")}`);
    expect(tunnelStats.requests).toBe(before + 1);
    expect(offered).toEqual([]);
  });
});
