/**
 * The attack suite's origin: a raw TCP HTTP/1.1 server (Bun.listen) that logs every request it
 * parses, exactly as an origin would read the bytes, and answers each with a small JSON 200.
 * Smuggling shows up as more requests (or other heads) than the gateway was asked to forward; a test
 * says what it allowed (`allow`) and `unexpected()` lists everything else that arrived.
 * Its parser is deliberately simple and strict about what it does understand: Content-Length or
 * chunked bodies, pipelined requests on one connection. Anything it cannot frame is logged as garbage.
 */
import type { Socket } from "bun";

export interface OriginRequest {
  method: string;
  /** The request-target as it arrived (path and query). */
  target: string;
  version: string;
  /** Field lines in order, names lower-cased. */
  headers: [string, string][];
  body: Buffer;
  /** Which TCP connection it came on (1-based). */
  conn: number;
  header(name: string): string | undefined;
}

export interface LoggingOrigin {
  url: string;
  port: number;
  requests: OriginRequest[];
  /** Bytes the origin could not frame as a request, per connection. */
  garbage: { conn: number; bytes: string }[];
  /** Every request that arrived and is not matched by one of the predicates given to allow(). */
  unexpected(): OriginRequest[];
  allow(pred: (r: OriginRequest) => boolean): void;
  /** Forget what was logged (and the allow-list). */
  reset(): void;
  /** Resolves once `n` requests arrived in all, or after timeoutMs (never rejects). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

interface ConnState { id: number; buf: Buffer }

const HEAD_END = Buffer.from("\r\n\r\n");

/** Parse as many complete requests as `buf` holds; returns them and the unconsumed rest (or null: garbage). */
function parseSome(buf: Buffer, conn: number): { reqs: OriginRequest[]; rest: Buffer } | null {
  const reqs: OriginRequest[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf(HEAD_END, at);
    if (end === -1) return { reqs, rest: buf.subarray(at) };
    const lines = buf.subarray(at, end).toString("latin1").split("\r\n");
    const m = /^(\S+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0] ?? "");
    if (!m) return null;
    const headers: [string, string][] = [];
    for (const l of lines.slice(1)) {
      const c = l.indexOf(":");
      if (c <= 0) return null;
      headers.push([l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()]);
    }
    const get = (n: string) => headers.find(([k]) => k === n)?.[1];
    let pos = end + 4;
    let body: Buffer;
    const te = get("transfer-encoding");
    if (te !== undefined && /chunked\s*$/i.test(te)) {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf("\r\n", pos);
        if (le === -1) return { reqs, rest: buf.subarray(at) };
        const size = parseInt(buf.subarray(pos, le).toString("latin1"), 16);
        if (!Number.isFinite(size)) return null;
        if (size === 0) {
          const tEnd = buf.indexOf(HEAD_END, le);
          const blank = buf.subarray(le, le + 4).equals(HEAD_END);
          if (blank) { pos = le + 4; break; }
          if (tEnd === -1) return { reqs, rest: buf.subarray(at) };
          pos = tEnd + 4;
          break;
        }
        if (buf.length < le + 2 + size + 2) return { reqs, rest: buf.subarray(at) };
        parts.push(buf.subarray(le + 2, le + 2 + size));
        pos = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      const cl = Number(get("content-length") ?? "0");
      if (!Number.isInteger(cl) || cl < 0) return null;
      if (buf.length < pos + cl) return { reqs, rest: buf.subarray(at) };
      body = Buffer.from(buf.subarray(pos, pos + cl));
      pos += cl;
    }
    reqs.push({ method: m[1], target: m[2], version: m[3], headers, body, conn, header: get });
    at = pos;
  }
}

export function startLoggingOrigin(): LoggingOrigin {
  const requests: OriginRequest[] = [];
  const garbage: { conn: number; bytes: string }[] = [];
  let allowed: ((r: OriginRequest) => boolean)[] = [];
  let conns = 0;
  let waiters: (() => void)[] = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };

  const server = Bun.listen<ConnState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "buffer",
      open(s) { s.data = { id: ++conns, buf: Buffer.alloc(0) }; },
      data(s: Socket<ConnState>, d) {
        const st = s.data;
        st.buf = st.buf.length ? Buffer.concat([st.buf, d as Buffer]) : Buffer.from(d as Buffer);
        const parsed = parseSome(st.buf, st.id);
        if (parsed === null) {
          garbage.push({ conn: st.id, bytes: st.buf.toString("latin1").slice(0, 500) });
          st.buf = Buffer.alloc(0);
          s.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
          wake();
          return;
        }
        st.buf = Buffer.from(parsed.rest);
        for (const r of parsed.reqs) {
          requests.push(r);
          const body = JSON.stringify({ origin: true, method: r.method, target: r.target, n: requests.length });
          s.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        }
        if (parsed.reqs.length) wake();
      },
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    requests,
    garbage,
    unexpected: () => requests.filter((r) => !allowed.some((p) => p(r))),
    allow(pred) { allowed.push(pred); },
    reset() { requests.length = 0; garbage.length = 0; allowed = []; },
    async waitFor(n, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < n && Date.now() < deadline) {
        await new Promise<void>((resolve) => { const t = setTimeout(resolve, deadline - Date.now()); waiters.push(() => { clearTimeout(t); resolve(); }); });
      }
    },
    stop() { server.stop(true); },
  };
}
