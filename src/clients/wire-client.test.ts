/**
 * The clients' keep-alive transport (requestJson over wire-client.ts) against a real TCP server that
 * answers byte by byte as scripted per path: reuse, the keep-alive race, a server dying mid-response,
 * Content-Length / chunked / close-delimited bodies, coded errors, timeouts, abort, more requests than
 * connections. Only the public requestJson is used, so the same file runs against the fetch() path.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { requestJson, ServiceError } from "./http";

interface Peer { buf: Buffer; served: number; id: number }
interface Req { path: string; head: string; body: string; s: Socket<Peer>; peer: Peer }

let opened = 0;
let diedOn = 0;
let badOn = 0;
let slowOn = 0;
/** Wait (bounded) until the server saw connection `id` close. */
async function closedSoon(id: number): Promise<boolean> {
  for (let i = 0; i < 100 && !closedIds.includes(id); i++) await Bun.sleep(10);
  return closedIds.includes(id);
}
let active = 0;
let maxActive = 0;
const closedIds: number[] = [];
const sockets = new Set<Socket<Peer>>();

const answer = (s: Socket<Peer>, status: number, body: string, extra = "") =>
  s.write(`HTTP/1.1 ${status} ${status < 300 ? "OK" : "Refused Here"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);

function handle({ path, head, body, s, peer }: Req): void {
  const ok = () => answer(s, 200, JSON.stringify({ conn: peer.id, served: peer.served, path, head, body }));
  switch (path) {
    case "/json": ok(); return;
    case "/conn-close": answer(s, 200, JSON.stringify({ conn: peer.id }), "connection: close\r\n"); return;
    case "/drop-reused": if (peer.served > 0) s.terminate(); else ok(); return; // the keep-alive race, forced
    case "/die": diedOn = peer.id; s.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"partial\":"); setTimeout(() => s.terminate(), 20); return;
    case "/bad-chunk": badOn = peer.id; s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"a\":\r\nzz\r\n"); return; // and keeps the connection open
    case "/coded": answer(s, 409, JSON.stringify({ error: { code: "X_ERR_CODED", message: "refused", where: "body", details: { n: 1 } } })); return;
    case "/plain-error": s.write("HTTP/1.1 503 Busy Now\r\ncontent-length: 8\r\n\r\nnot json"); return;
    case "/bad-json": s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{nope"); return;
    case "/slow": slowOn = peer.id; return; // never answers
    case "/delay":
      active++; maxActive = Math.max(maxActive, active);
      setTimeout(() => { active--; ok(); }, 15);
      return;
    case "/chunked": {
      const text = JSON.stringify({ conn: peer.id, chunked: "é".repeat(3000) });
      const bytes = Buffer.from(text);
      s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
      // Chunks in separate writes, split inside a two-byte character; then the last chunk and a trailer.
      let at = 0;
      const next = () => {
        if (at >= bytes.length) { s.write("0\r\nx-trailer: 1\r\n\r\n"); return; }
        const part = bytes.subarray(at, at + 1001);
        at += part.length;
        s.write(Buffer.concat([Buffer.from(part.length.toString(16) + "\r\n"), part, Buffer.from("\r\n")]));
        setTimeout(next, 2);
      };
      next();
      return;
    }
    case "/close-delimited":
      s.write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"closeDelimited\":");
      setTimeout(() => { s.write(`${peer.id}}`); s.end(); }, 10);
      return;
    default: answer(s, 404, "{}");
  }
}

const server = Bun.listen<Peer>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(s) { s.data = { buf: Buffer.alloc(0), served: 0, id: ++opened }; sockets.add(s); },
    data(s, d) {
      const p = s.data;
      p.buf = Buffer.concat([p.buf, d]);
      for (;;) {
        const end = p.buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = p.buf.toString("latin1", 0, end);
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (p.buf.length < end + 4 + len) return;
        const body = p.buf.toString("utf8", end + 4, end + 4 + len);
        p.buf = p.buf.subarray(end + 4 + len);
        handle({ path: head.split(" ")[1].split("?")[0], head, body, s, peer: p });
        p.served++;
      }
    },
    close(s) { sockets.delete(s); closedIds.push(s.data.id); },
  },
});
afterAll(() => { for (const s of sockets) s.terminate(); server.stop(true); });
const base = `http://127.0.0.1:${server.port}`;
const url = (path: string) => `${base}${path}`;
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a failure"); }, (e) => e as ServiceError);

test("sequential requests reuse one keep-alive connection; the request carries host, JSON body and headers in one message", async () => {
  const before = opened;
  const seen = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const r = await requestJson<{ conn: number; served: number; head: string; body: string }>(url("/json"), { method: "POST", body: { i, s: "ü" }, headers: { "idempotency-key": `k${i}` } });
    seen.add(r.conn);
    expect(JSON.parse(r.body)).toEqual({ i, s: "ü" });
    expect(r.head.toLowerCase()).toContain(`\r\nhost: 127.0.0.1:${server.port}`);
    expect(r.head.toLowerCase()).toContain("\r\ncontent-type: application/json");
    expect(r.head).toContain(`idempotency-key: k${i}`);
  }
  expect(seen.size).toBe(1);
  expect(opened - before).toBeLessThanOrEqual(1);
});

test("a reused connection the server closes without answering is retried once on a fresh one", async () => {
  const first = await requestJson<{ conn: number }>(url("/json"));
  const r = await requestJson<{ conn: number; served: number }>(url("/drop-reused"));
  expect(r.conn).not.toBe(first.conn); // answered on a new connection
  expect(r.served).toBe(0);
});

test("the server closing idle connections between requests: the next request goes out on a new connection", async () => {
  const a = await requestJson<{ conn: number }>(url("/json"));
  for (const s of sockets) if (s.data.id === a.conn) s.end(); // the server's idle timeout, say
  expect(await closedSoon(a.conn)).toBe(true);
  await Bun.sleep(10);
  const b = await requestJson<{ conn: number }>(url("/json"));
  expect(b.conn).not.toBe(a.conn);
});

test("an idle connection is closed by the client after a while (4 s)", async () => {
  const a = await requestJson<{ conn: number }>(url("/json"));
  await Bun.sleep(3500);
  expect(closedIds).not.toContain(a.conn);
  for (let i = 0; i < 150 && !closedIds.includes(a.conn); i++) await Bun.sleep(10);
  expect(closedIds).toContain(a.conn);
}, 10_000);

test("a server dying mid-response: a retryable status-0 ServiceError, and that connection is not reused", async () => {
  const err = await failure(requestJson(url("/die")));
  expect(err).toBeInstanceOf(ServiceError);
  expect([err.status, err.code, err.retryable]).toEqual([0, "CLIENT_ERR_UNREACHABLE", true]);
  expect(diedOn).toBeGreaterThan(0);
  const r = await requestJson<{ conn: number }>(url("/json"));
  expect(r.conn).not.toBe(diedOn);
});

test("malformed framing mid-body on a connection the server keeps open: an error, and the client closes that connection", async () => {
  const err = await failure(requestJson(url("/bad-chunk")));
  expect(err).toBeInstanceOf(ServiceError);
  expect([err.status, err.retryable]).toEqual([0, true]);
  expect(badOn).toBeGreaterThan(0);
  expect(await closedSoon(badOn)).toBe(true); // only the client closes it
  expect((await requestJson<{ conn: number }>(url("/json"))).conn).not.toBe(badOn);
});

test("chunked (split inside a UTF-8 character, with a trailer), Content-Length and close-delimited bodies", async () => {
  const c = await requestJson<{ chunked: string; conn: number }>(url("/chunked"));
  expect(c.chunked).toBe("é".repeat(3000));
  // The chunked response ended cleanly: the connection is reused.
  expect((await requestJson<{ conn: number }>(url("/json"))).conn).toBe(c.conn);
  const d = await requestJson<{ closeDelimited: number }>(url("/close-delimited"));
  // Read until the server closed: that connection is gone, the next request opens another.
  expect(await closedSoon(d.closeDelimited)).toBe(true);
  expect((await requestJson<{ conn: number }>(url("/json"))).conn).not.toBe(d.closeDelimited);
});

test("connection: close in a response closes the connection; the next request opens a new one", async () => {
  const a = await requestJson<{ conn: number }>(url("/conn-close"));
  const b = await requestJson<{ conn: number }>(url("/json"));
  expect(b.conn).not.toBe(a.conn);
  expect(await closedSoon(a.conn)).toBe(true); // the client closed it (the server never does on its own)
});

test("coded 4xx and plain 5xx answers are ServiceErrors with their fields; a 2xx that is not JSON is a SyntaxError", async () => {
  const coded = await failure(requestJson(url("/coded"), { method: "POST", body: {} }));
  expect(coded).toBeInstanceOf(ServiceError);
  expect([coded.status, coded.code, coded.message, coded.where, coded.details, coded.retryable]).toEqual([409, "X_ERR_CODED", "refused", "body", { n: 1 }, false]);
  const plain = await failure(requestJson(url("/plain-error")));
  expect([plain.status, plain.code, plain.message, plain.retryable]).toEqual([503, "HTTP_503", "Busy Now", true]);
  expect(await failure(requestJson(url("/bad-json")))).toBeInstanceOf(SyntaxError);
  // The connection survived all three (complete answers): still one connection for the next request.
  const a = await requestJson<{ conn: number }>(url("/json"));
  const b = await requestJson<{ conn: number }>(url("/json"));
  expect(b.conn).toBe(a.conn);
});

test("no answer in time: a status-0 ServiceError after timeoutMs (the deadline step later at most), and the connection is closed", async () => {
  const t0 = Date.now();
  const err = await failure(requestJson(url("/slow"), { timeoutMs: 200 }));
  const took = Date.now() - t0;
  expect([err.status, err.code, err.retryable]).toEqual([0, "CLIENT_ERR_UNREACHABLE", true]);
  expect(err.message).toContain("timed out");
  expect(took).toBeGreaterThanOrEqual(195);
  expect(took).toBeLessThan(1200);
  expect(await closedSoon(slowOn)).toBe(true);
});

test("abort: an aborted request rejects at once (status 0) and its connection is closed; an already-aborted signal never sends", async () => {
  const c = new AbortController();
  slowOn = 0;
  const t0 = Date.now();
  const p = failure(requestJson(url("/slow"), { signal: c.signal, timeoutMs: 5000 }));
  setTimeout(() => c.abort(), 50);
  const err = await p;
  expect(Date.now() - t0).toBeLessThan(1000);
  expect([err.status, err.retryable]).toEqual([0, true]);
  expect(slowOn).toBeGreaterThan(0);
  expect(await closedSoon(slowOn)).toBe(true);
  const again = await failure(requestJson(url("/json"), { signal: c.signal }));
  expect(again.status).toBe(0);
});

// Non-replayable requests (POST, no Idempotency-Key): one per connection; GETs and keyed POSTs are pipelined (wire-pipeline.test.ts).
test("300 concurrent POSTs: all answered, over at most 64 connections", async () => {
  maxActive = 0;
  const before = opened;
  const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => requestJson<{ path: string }>(url(`/delay?i=${i}`), { method: "POST", body: { i }, timeoutMs: 10_000 })));
  expect(rs.length).toBe(300);
  expect(maxActive).toBeLessThanOrEqual(64);
  expect(maxActive).toBeGreaterThan(8);
  expect(opened - before).toBeLessThanOrEqual(64);
});

test("every connection busy and the wait queue full: one more request fails at once (coded, retryable); the queued ones time out", async () => {
  const mute = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); // accepts, never answers
  try {
    const at = `http://127.0.0.1:${mute.port}/x`;
    const post = { method: "POST", body: {}, timeoutMs: 400 }; // not pipelined: 64 connections, one request each
    const queued = Array.from({ length: 64 + 8192 }, () => failure(requestJson(at, post)));
    const t0 = Date.now();
    const extra = await failure(requestJson(at, post));
    expect(Date.now() - t0).toBeLessThan(100);
    expect([extra.status, extra.code, extra.retryable]).toEqual([0, "CLIENT_ERR_QUEUE_FULL", true]);
    const rest = await Promise.all(queued);
    expect(rest.every((e) => e.status === 0 && e.code === "CLIENT_ERR_UNREACHABLE" && /timed out/.test(e.message))).toBe(true);
  } finally { mute.stop(true); }
});

test("header values with CR/LF are refused before anything is sent", async () => {
  const err = await failure(requestJson(url("/json"), { headers: { "x-a": "1\r\nx-b: 2" } }));
  expect(err).toBeInstanceOf(TypeError);
});

test("an idle pooled connection does not keep a client process alive", async () => {
  const script = `const { requestJson } = await import(${JSON.stringify(import.meta.dir + "/http.ts")}); await requestJson(${JSON.stringify(url("/json"))}); console.log("done");`;
  const t0 = Date.now();
  const p = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  expect(out.trim()).toBe("done");
  expect(Date.now() - t0).toBeLessThan(3000);
});
