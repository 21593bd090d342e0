/**
 * One conformance suite for both upstream clients (fetch() and the pooled HTTP/1.1 client), against
 * real upstreams: Bun.serve ones and raw TCP servers that answer with exact bytes (chunked, close-
 * delimited, 1xx, HEAD, 204, keep-alive closed under us, malformed heads, slow bodies).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { fetchClient, UpstreamError, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from "./upstream-client";
import { pooledClient } from "./pooled-client";
import { freePort } from "../../../test/support/harness";

type Raw = { port: number; url: string; accepted: number; stop(): void };

/** A raw TCP server: `reply(requestText, socket)` writes whatever bytes it likes. */
function rawServer(reply: (request: string, write: (s: string | Uint8Array) => void, end: () => void) => void): Raw {
  const self: Raw = { port: 0, url: "", accepted: 0, stop: () => {} };
  const listener = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) { self.accepted++; s.data = { buf: "" }; },
      data(s, d) {
        s.data.buf += new TextDecoder().decode(d);
        // One request per head (bodyless requests in this suite, except where a length is given).
        while (s.data.buf.includes("\r\n\r\n")) {
          const end = s.data.buf.indexOf("\r\n\r\n") + 4;
          const m = /content-length: (\d+)/i.exec(s.data.buf.slice(0, end));
          const total = end + (m ? Number(m[1]) : 0);
          if (s.data.buf.length < total) return;
          const req = s.data.buf.slice(0, total);
          s.data.buf = s.data.buf.slice(total);
          reply(req, (x) => s.write(x), () => s.end());
        }
      },
    },
  });
  self.port = listener.port;
  self.url = `http://127.0.0.1:${listener.port}`;
  self.stop = () => listener.stop(true);
  return self;
}

const servers: { stop(): void }[] = [];
afterAll(() => { for (const s of servers) s.stop(); });

function req(base: string, path = "/", over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { base, path, method: "GET", headers: new Headers({ "x-test": "1" }), body: null, connectTimeoutMs: 1000, deadline: Date.now() + 3000, ...over };
}

async function text(r: UpstreamResponse): Promise<string> {
  if (r.body === null) return "";
  if (r.body instanceof Uint8Array) return new TextDecoder().decode(r.body);
  return new Response(r.body).text();
}

const clients: [string, () => UpstreamClient][] = [["fetch", fetchClient], ["pooled", pooledClient]];

for (const [name, make] of clients) {
  describe(`${name} client`, () => {
    const client = make();
    afterAll(() => client.close());

    test("Content-Length body, keep-alive reused across requests", async () => {
      const s = rawServer((_r, w) => w("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"));
      servers.push(s);
      for (let i = 0; i < 5; i++) {
        const r = await client.send(req(s.url));
        expect(r.status).toBe(200);
        expect(r.headers.get("x-a")).toBe("1");
        expect(await text(r)).toBe("hello");
      }
      expect(s.accepted).toBe(1);
    });

    test("chunked body split at awkward places is decoded; chunk extensions and trailers ignored", async () => {
      const s = rawServer((_r, w) => {
        w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r");
        setTimeout(() => w("\n1"), 5);
        setTimeout(() => w("0\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n"), 10);
      });
      servers.push(s);
      const r = await client.send(req(s.url));
      expect(r.headers.get("transfer-encoding")).toBeNull();
      expect(await text(r)).toBe("abc0123456789abcdef");
      // and the connection is reusable afterwards
      const again = await client.send(req(s.url));
      expect((await text(again)).length).toBe(19);
    });

    test("a close-delimited body (no length, no chunking) is read to the end", async () => {
      const s = rawServer((_r, w, end) => { w("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1-"); setTimeout(() => { w("part2"); end(); }, 10); });
      servers.push(s);
      const r = await client.send(req(s.url));
      expect(await text(r)).toBe("part1-part2");
    });

    test("HEAD and 204 have no body even with a Content-Length", async () => {
      const s = rawServer((r, w) => w(r.startsWith("HEAD") ? "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" : "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"));
      servers.push(s);
      const head = await client.send(req(s.url, "/", { method: "HEAD" }));
      expect(head.status).toBe(200);
      expect(await text(head)).toBe("");
      const none = await client.send(req(s.url));
      expect(none.status).toBe(204);
    });

    test("an interim 100 Continue is skipped", async () => {
      const s = rawServer((_r, w) => w("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"));
      servers.push(s);
      const r = await client.send(req(s.url));
      expect(r.status).toBe(201);
      expect(await text(r)).toBe("ok");
    });

    test("hop-by-hop response headers (and those named by Connection) are dropped", async () => {
      const s = rawServer((_r, w) => w("HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Kept: k\r\nContent-Length: 0\r\n\r\n"));
      servers.push(s);
      const r = await client.send(req(s.url));
      expect(r.headers.get("x-secret")).toBeNull();
      expect(r.headers.get("keep-alive")).toBeNull();
      expect(r.headers.get("x-kept")).toBe("k");
    });

    test("a keep-alive connection the upstream closed while idle is replaced transparently", async () => {
      let n = 0;
      const s = rawServer((_r, w, end) => { n++; w(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${n}`); setTimeout(end, 5); });
      servers.push(s);
      expect(await text(await client.send(req(s.url)))).toBe("1");
      await Bun.sleep(30);
      expect(await text(await client.send(req(s.url)))).toBe("2");
    });

    test("refused connection → UpstreamError kind connect", async () => {
      const err = await client.send(req(`http://127.0.0.1:${freePort()}`)).catch((e) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe("connect");
    });

    test("no response head before the deadline → kind timeout", async () => {
      const s = rawServer(() => { /* never answers */ });
      servers.push(s);
      const t0 = performance.now();
      const err = await client.send(req(s.url, "/", { deadline: Date.now() + 150 })).catch((e) => e);
      expect((err as UpstreamError).kind).toBe("timeout");
      expect(performance.now() - t0).toBeLessThan(1000);
    });

    test("a connection dropped mid-head → an error, not a hang", async () => {
      const s = rawServer((_r, w, end) => { w("HTTP/1.1 200 OK\r\nContent-Le"); end(); });
      servers.push(s);
      const err = await client.send(req(s.url)).catch((e) => e);
      expect(err).toBeInstanceOf(UpstreamError);
    });

    test("a malformed status line → an error", async () => {
      const s = rawServer((_r, w, end) => { w("SMTP ready\r\n\r\n"); end(); });
      servers.push(s);
      const err = await client.send(req(s.url)).catch((e) => e);
      expect(err).toBeInstanceOf(UpstreamError);
    });

    test("a streamed request body is sent chunked, and with its Content-Length when given", async () => {
      const up = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(r) { return Response.json({ te: r.headers.get("transfer-encoding"), cl: r.headers.get("content-length"), body: await r.text() }); } });
      servers.push({ stop: () => up.stop(true) });
      const base = `http://127.0.0.1:${up.port}`;
      const stream = () => new ReadableStream<Uint8Array>({ start(c) { c.enqueue(new TextEncoder().encode("ab")); c.enqueue(new TextEncoder().encode("cd")); c.close(); } });
      const chunked = JSON.parse(await text(await client.send(req(base, "/", { method: "POST", body: stream() }))));
      expect(chunked).toEqual({ te: "chunked", cl: null, body: "abcd" });
      const sized = JSON.parse(await text(await client.send(req(base, "/", { method: "POST", body: stream(), headers: new Headers({ "content-length": "4" }) }))));
      expect(sized).toEqual({ te: null, cl: "4", body: "abcd" });
    });

    test("many concurrent requests each get their own answer", async () => {
      const up = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(r) { const n = new URL(r.url).searchParams.get("n"); await Bun.sleep(Number(n) % 7); return new Response(`n=${n}`); } });
      servers.push({ stop: () => up.stop(true) });
      const base = `http://127.0.0.1:${up.port}`;
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => client.send(req(base, `/?n=${i}`)).then(text)));
      expect(answers).toEqual(Array.from({ length: 200 }, (_, i) => `n=${i}`));
    });
  });
}

test("pooled: a slow reader pauses the upstream socket instead of buffering (backpressure)", async () => {
  const client = pooledClient();
  const MB = 1024 * 1024;
  const up = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(256 * 1024)); } })) });
  try {
    const r = await client.send(req(`http://127.0.0.1:${up.port}`));
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    let got = 0;
    for (let i = 0; i < 4; i++) got += (await reader.read()).value!.byteLength;
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    await Bun.sleep(300); // reader idle: an unpaused socket would pour the endless body into memory
    const grown = process.memoryUsage().rss - before;
    expect(got).toBeGreaterThan(0);
    expect(grown).toBeLessThan(64 * MB);
    await reader.cancel();
  } finally {
    client.close();
    up.stop(true);
  }
});
