/**
 * Client-side faults for the attack suite: each one is a client that aborts (mid-body upload,
 * while waiting for the answer, mid-response, before or after a WebSocket upgrade), stalls (a body
 * that stops arriving, a reader that never reads) or sends garbage (after a valid head, a bad chunk
 * size, a malformed head, a body over the limit). Every fault checks that it happened as meant (what
 * the gateway answered, or that it dropped the connection) and is bounded in time.
 * The upstream they expect (faultyUpstream) serves /api/* on a real Bun.serve.
 */
import { expect } from "bun:test";
import type { Server } from "bun";
import { RawConn } from "../../support/raw-http";

const H = "Host: faults.test\r\n";
const WS = `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n`;

const BIG = new Uint8Array(32 * 1024 * 1024);

/** The upstream: /slow answers after 600 ms, /upload reads the body, /big is 32 MB, /drip streams for 3 s, /ws (and /ws-slow, after 600 ms) upgrade. */
export function faultyUpstream(): Server<undefined> {
  return Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req, server) {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/api/ws")) {
        if (path === "/api/ws-slow") await Bun.sleep(600);
        if (server.upgrade(req, { data: undefined })) return undefined as unknown as Response;
        return new Response("expected a websocket", { status: 400 });
      }
      if (path === "/api/slow") await Bun.sleep(600);
      if (path === "/api/big") return new Response(BIG); // more than the kernel buffers both ways hold
      if (path === "/api/drip") {
        let n = 0;
        return new Response(new ReadableStream({
          async pull(c) { await Bun.sleep(100); if (++n > 30) c.close(); else c.enqueue(new Uint8Array(1024)); },
        }));
      }
      const got = req.body ? (await req.arrayBuffer()).byteLength : 0;
      return Response.json({ ok: true, got });
    },
    websocket: { message(ws, m) { ws.send(m); } },
  });
}

type Fault = (port: number) => Promise<void>;

async function conn(port: number): Promise<RawConn> { return RawConn.open(port); }

/** Send, wait `ms`, drop the connection (RST). */
async function sendAndDrop(port: number, bytes: string, ms: number): Promise<void> {
  const c = await conn(port);
  await c.write(bytes);
  await Bun.sleep(ms);
  c.terminate();
}

/** Send a body start and never finish it: the gateway must drop the connection after its idle timeout. */
async function stall(port: number, bytes: string): Promise<void> {
  const c = await conn(port);
  await c.write(bytes);
  const closed = await c.waitClosed(8000);
  c.terminate();
  expect(closed).toBe(true);
}

/** Send and read one answer; expect `status` and (when `closes`) the connection closed after it. */
async function expectAnswer(port: number, bytes: string, status: number, closes: boolean): Promise<void> {
  const c = await conn(port);
  try {
    const r = await c.request(bytes, { timeoutMs: 5000 });
    expect(r.status).toBe(status);
    if (closes) expect(await c.waitClosed(3000)).toBe(true);
  } finally {
    c.terminate();
  }
}

export const FAULTS: Record<string, Fault> = {
  "abort mid-body (Content-Length)": (p) => sendAndDrop(p, `POST /api/upload HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n${"a".repeat(1000)}`, 100),
  "abort mid-body (chunked)": (p) => sendAndDrop(p, `POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n`, 100),
  "abort mid-chunk (chunked)": (p) => sendAndDrop(p, `POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n400\r\n${"b".repeat(100)}`, 100),
  "close before the answer (wire lane, slow upstream)": (p) => sendAndDrop(p, `GET /api/slow HTTP/1.1\r\n${H}\r\n`, 150),
  "close before the answer (fetch lane, slow upstream)": (p) => sendAndDrop(p, `POST /api/slow HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, 150),
  "close right after a whole small upload (slow upstream)": (p) => sendAndDrop(p, `POST /api/slow HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`, 50),
  "half-close after the request (slow upstream)": async (p) => {
    const c = await conn(p);
    await c.write(`GET /api/slow HTTP/1.1\r\n${H}\r\n`);
    c.socket.shutdown();
    await c.waitClosed(2000);
    c.terminate();
  },
  "half-close mid-body": async (p) => {
    const c = await conn(p);
    await c.write(`POST /api/upload HTTP/1.1\r\n${H}Content-Length: 5000\r\n\r\n${"c".repeat(100)}`);
    c.socket.shutdown();
    await c.waitClosed(6000);
    c.terminate();
  },
  "stall mid-body past the idle timeout (Content-Length)": (p) => stall(p, `POST /api/upload HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n${"d".repeat(10)}`),
  "stall mid-body past the idle timeout (chunked)": (p) => stall(p, `POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n`),
  "garbage after a valid head": async (p) => {
    const c = await conn(p);
    try {
      expect((await c.request(`GET /api/x HTTP/1.1\r\n${H}\r\n\x00\x01\x02 not http \xff\r\n\r\n`)).status).toBe(200);
      expect(await c.waitClosed(3000)).toBe(true); // the garbage is a 400 from the front, then close
    } finally { c.terminate(); }
  },
  "garbage after a whole body": (p) => expectAnswer(p, `POST /api/upload HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nok\x16\x03\x01\x02\x00 garbage\r\n\r\n`, 200, true),
  "bad chunk size": (p) => expectAnswer(p, `POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 400, true),
  "bad chunk size after a good chunk": (p) => expectAnswer(p, `POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n-1\r\nx\r\n0\r\n\r\n`, 400, true),
  "chunk data longer than its size": (p) => expectAnswer(p, `POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n`, 400, true),
  "chunked body over max_body_size": async (p) => {
    const c = await conn(p);
    try {
      await c.write(`POST /api/upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
      for (let i = 0; i < 24 && !c.closed; i++) await c.write(`1000\r\n${"e".repeat(4096)}\r\n`);
      await c.write("0\r\n\r\n");
      expect((await c.read({ timeoutMs: 5000 })).status).toBe(413);
    } finally { c.terminate(); }
  },
  "lowercase method": (p) => expectAnswer(p, `get /api/x HTTP/1.1\r\n${H}\r\n`, 501, false),
  "malformed header line": (p) => expectAnswer(p, `GET /api/x HTTP/1.1\r\n${H}Not a header\r\n\r\n`, 400, true),
  "NUL in a header value": (p) => expectAnswer(p, `GET /api/x HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400, true),
  "TLS hello on the plain port": async (p) => {
    const c = await conn(p);
    await c.write("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + "\x00".repeat(40) + "\r\n\r\n");
    expect(await c.waitClosed(3000)).toBe(true);
    c.terminate();
  },
  "disconnect mid-response": async (p) => {
    const c = await conn(p);
    await c.write(`GET /api/drip HTTP/1.1\r\n${H}\r\n`);
    await c.waitFor((b) => b.indexOf("\r\n\r\n") !== -1, 5000, "the response head");
    c.terminate();
  },
  "slow reader (never reads a 32 MB answer): dropped after the idle timeout": async (p) => {
    const c = await conn(p);
    c.socket.pause();
    await c.write(`GET /api/big HTTP/1.1\r\n${H}\r\n`);
    const closed = await c.waitClosed(9000);
    c.terminate();
    expect(closed).toBe(true);
  },
  "WebSocket: close before the upgrade answer": (p) => sendAndDrop(p, `GET /api/ws-slow HTTP/1.1\r\n${H}${WS}\r\n`, 100),
  "WebSocket: garbage frames after the upgrade": async (p) => {
    const c = await conn(p);
    try {
      expect((await c.request(`GET /api/ws HTTP/1.1\r\n${H}${WS}\r\n`)).status).toBe(101);
      await c.write("\xff\xff\xff\xff garbage, not a frame");
      await c.waitClosed(3000);
    } finally { c.terminate(); }
  },
  "WebSocket: drop after the upgrade": async (p) => {
    const c = await conn(p);
    expect((await c.request(`GET /api/ws HTTP/1.1\r\n${H}${WS}\r\n`)).status).toBe(101);
    c.terminate();
  },
};

/** `n` faults cycling through every variant, `concurrency` at a time; returns how many of each ran. */
export async function runFaults(port: number, n: number, concurrency: number): Promise<Record<string, number>> {
  const names = Object.keys(FAULTS);
  const ran: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const name = names[next++ % names.length];
      try {
        await FAULTS[name](port);
      } catch (err) {
        throw new Error(`fault "${name}": ${(err as Error).message}`);
      }
      ran[name] = (ran[name] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ran;
}
