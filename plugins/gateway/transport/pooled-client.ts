/**
 * A pooled HTTP/1.1 client on Bun.connect, for the proxy's hot path: keep-alive connections per
 * instance reused across requests, the request head written in one write, Content-Length, chunked
 * and close-delimited responses, streaming bodies both ways with backpressure (socket pause/resume
 * on the way back, drain on the way out). A small Content-Length response that arrives with its head
 * (the common case) is handed over as bytes, with no stream at all.
 * https instances go through fetch() (TLS stays Bun's).
 */
import { UpstreamError, clientGone, fetchClient, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from "./upstream-client";
import { ConnectionPool, type Conn, type PoolExchange } from "./pool";

const CRLFCRLF = Buffer.from("\r\n\r\n");
const MAX_HEAD = 64 * 1024;
const NON_ASCII = /[^\x00-\x7f]/;

const enum Phase { Head, Length, Chunked, UntilClose, Done }
const enum ChunkState { Size, Data, DataEnd, Trailer }

interface Exchange extends PoolExchange {
  req: UpstreamRequest;
  /** The pool's sweeper reads it: Infinity while the client's body bytes are awaited. */
  deadline: number;
  /** The response-head timeout, restarted from each body byte taken from the client. */
  span: number;
  pool: ConnectionPool;
  resolve(r: UpstreamResponse): void;
  reject(e: UpstreamError): void;
  phase: Phase;
  head: Buffer | null;
  receivedAny: boolean;
  keepAlive: boolean;
  remaining: number;
  controller: ReadableStreamDefaultController<Uint8Array> | null;
  chunk: ChunkState;
  line: string;
}

/** Hop-by-hop response fields never handed back (RFC 9110 §7.6.1). */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

function fail(ex: Exchange, err: UpstreamError): void {
  if (ex.settled) {
    if (ex.controller) { try { ex.controller.error(err); } catch { /* already closed */ } ex.controller = null; }
    return;
  }
  ex.settled = true;
  ex.reject(err);
}

function destroy(ex: Exchange, conn: Conn): void {
  ex.pool.destroy(conn);
}

/** The response is complete: the connection goes back to the idle list when it may be reused. */
function complete(conn: Conn, ex: Exchange): void {
  ex.phase = Phase.Done;
  if (ex.controller) { try { ex.controller.close(); } catch { /* cancelled */ } ex.controller = null; }
  ex.pool.complete(conn, ex.keepAlive);
}

function bodyStream(conn: Conn, ex: Exchange): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) { ex.controller = controller; },
    pull() { if (conn.paused && !conn.closed) { conn.paused = false; conn.socket!.resume(); } },
    cancel() {
      // The client went away mid-body: this connection cannot be reused.
      ex.controller = null;
      if (ex.phase !== Phase.Done) { ex.phase = Phase.Done; destroy(ex, conn); }
    },
  }, { highWaterMark: 64 * 1024, size: (c) => c?.byteLength ?? 0 });
}

function enqueue(conn: Conn, ex: Exchange, bytes: Uint8Array): void {
  const c = ex.controller;
  if (c === null || bytes.byteLength === 0) return;
  c.enqueue(bytes);
  if ((c.desiredSize ?? 1) <= 0 && !conn.paused) { conn.paused = true; conn.socket?.pause(); }
}

/** Parse the response head; returns the offset after it, or -1 when more bytes are needed. */
function onHead(conn: Conn, ex: Exchange, data: Buffer): number {
  const end = data.indexOf(CRLFCRLF);
  if (end === -1) {
    if (data.length > MAX_HEAD) { fail(ex, new UpstreamError("other", "upstream response head too large")); destroy(ex, conn); }
    else ex.head = data;
    return -1;
  }
  ex.head = null;
  const text = data.toString("latin1", 0, end);
  const firstEnd = text.indexOf("\r\n");
  const statusLine = firstEnd === -1 ? text : text.slice(0, firstEnd);
  const status = Number(statusLine.slice(9, 12));
  if (!statusLine.startsWith("HTTP/1.") || !(status >= 100 && status < 600)) {
    fail(ex, new UpstreamError("other", "malformed upstream status line"));
    destroy(ex, conn);
    return -1;
  }
  // 1xx (other than 101) are interim: skip them and read the final head.
  if (status < 200 && status !== 101) return end + 4;
  const statusText = statusLine.slice(13);
  const headers = new Headers();
  let contentLength = -1;
  let chunked = false;
  let close = statusLine.charCodeAt(7) === 48; // HTTP/1.0 closes unless told otherwise
  let connectionTokens: string[] | undefined;
  let i = firstEnd === -1 ? text.length : firstEnd + 2;
  while (i < text.length) {
    let nl = text.indexOf("\r\n", i);
    if (nl === -1) nl = text.length;
    const colon = text.indexOf(":", i);
    if (colon !== -1 && colon < nl) {
      const name = text.slice(i, colon).toLowerCase();
      const value = text.slice(colon + 1, nl).trim();
      if (HOP.has(name)) {
        if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
        else if (name === "connection") {
          const v = value.toLowerCase();
          if (v.includes("close")) close = true; else if (v.includes("keep-alive")) close = false;
          connectionTokens = v.split(",").map((t) => t.trim()).filter((t) => t && t !== "close" && t !== "keep-alive");
        }
      } else {
        if (name === "content-length") contentLength = Number(value);
        headers.append(name, value);
      }
    }
    i = nl + 2;
  }
  if (connectionTokens) for (const t of connectionTokens) headers.delete(t);
  ex.keepAlive = !close;
  const rest = end + 4;
  const noBody = ex.req.method === "HEAD" || status === 204 || status === 304 || status === 101;
  ex.settled = true;
  if (noBody) {
    ex.resolve({ status, statusText, headers, body: null, discard: noop });
    complete(conn, ex);
    return data.length;
  }
  if (chunked) {
    ex.phase = Phase.Chunked;
    ex.chunk = ChunkState.Size;
    ex.line = "";
    if (contentLength !== -1) headers.delete("content-length");
  } else if (contentLength >= 0) {
    if (data.length - rest >= contentLength) {
      // Fast path: the whole body came with the head.
      ex.resolve({ status, statusText, headers, body: data.subarray(rest, rest + contentLength), discard: noop });
      complete(conn, ex);
      return data.length;
    }
    ex.phase = Phase.Length;
    ex.remaining = contentLength;
  } else {
    ex.phase = Phase.UntilClose;
    ex.keepAlive = false;
  }
  const body = bodyStream(conn, ex);
  ex.resolve({ status, statusText, headers, body, discard: () => { void body.cancel().catch(noop); } });
  return rest;
}

function noop(): void {}

/** Incremental chunked-transfer decoder over one data buffer from `at`. */
function onChunked(conn: Conn, ex: Exchange, data: Buffer, at: number): void {
  let i = at;
  const n = data.length;
  while (i < n && ex.phase === Phase.Chunked) {
    switch (ex.chunk) {
      case ChunkState.Size:
      case ChunkState.Trailer: {
        const nl = data.indexOf(10, i);
        if (nl === -1) { ex.line += data.toString("latin1", i, n); if (ex.line.length > 8192) { bodyError(conn, ex, "chunk line too long"); } return; }
        let line = ex.line + data.toString("latin1", i, nl);
        ex.line = "";
        i = nl + 1;
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (ex.chunk === ChunkState.Trailer) {
          if (line.length === 0) { complete(conn, ex); return; }
          continue;
        }
        const semi = line.indexOf(";");
        const size = parseInt(semi === -1 ? line : line.slice(0, semi), 16);
        if (!Number.isFinite(size) || size < 0) { bodyError(conn, ex, "bad chunk size"); return; }
        if (size === 0) ex.chunk = ChunkState.Trailer;
        else { ex.remaining = size; ex.chunk = ChunkState.Data; }
        break;
      }
      case ChunkState.Data: {
        const take = Math.min(ex.remaining, n - i);
        enqueue(conn, ex, data.subarray(i, i + take));
        i += take;
        ex.remaining -= take;
        if (ex.remaining === 0) { ex.chunk = ChunkState.DataEnd; ex.remaining = 2; }
        break;
      }
      case ChunkState.DataEnd: {
        const take = Math.min(ex.remaining, n - i);
        i += take;
        ex.remaining -= take;
        if (ex.remaining === 0) ex.chunk = ChunkState.Size;
        break;
      }
    }
  }
}

function bodyError(conn: Conn, ex: Exchange, why: string): void {
  ex.phase = Phase.Done;
  fail(ex, new UpstreamError("reset", why));
  destroy(ex, conn);
}

function onData(ex: Exchange, conn: Conn, data: Buffer): void {
  ex.receivedAny = true;
  let buf = data;
  let at = 0;
  while (ex.phase === Phase.Head) {
    if (ex.head) { buf = Buffer.concat([ex.head, buf]); ex.head = null; }
    const next = onHead(conn, ex, buf);
    if (next === -1) return;
    if (next >= buf.length) return;
    if (ex.phase === Phase.Head) { buf = buf.subarray(next); continue; } // after a 1xx
    at = next;
    if (conn.ex !== ex) return; // completed (and maybe reused) already
  }
  switch (ex.phase) {
    case Phase.Length: {
      const take = Math.min(ex.remaining, buf.length - at);
      enqueue(conn, ex, buf.subarray(at, at + take));
      ex.remaining -= take;
      if (ex.remaining === 0) complete(conn, ex);
      break;
    }
    case Phase.Chunked: onChunked(conn, ex, buf, at); break;
    case Phase.UntilClose: enqueue(conn, ex, buf.subarray(at)); break;
    default: break;
  }
}

function onClose(ex: Exchange, conn: Conn, retry: () => void): void {
  if (ex.phase === Phase.Done) return;
  if (ex.phase === Phase.UntilClose) { complete(conn, ex); return; }
  if (ex.phase === Phase.Head && !ex.receivedAny && !ex.settled && conn.served > 0 && ex.req.body === null) {
    // A reused keep-alive connection the upstream had closed: send again on a fresh one.
    retry();
    return;
  }
  ex.phase = Phase.Done;
  fail(ex, new UpstreamError("reset", "upstream closed the connection"));
}

/** The client over `pool` (shared with the wire lane, so both reuse the same keep-alive connections). */
export function pooledClient(pool: ConnectionPool = new ConnectionPool()): UpstreamClient {
  const tlsFallback = fetchClient();

  function write(ex: Exchange, conn: Conn): void {
    const r = ex.req;
    ex.receivedAny = false;
    let head = r.method + " " + r.path + " HTTP/1.1\r\n";
    const h = r.headers;
    let chunked: boolean;
    if (typeof h === "string") {
      if (!r.blockHasHost) head += "host: " + conn.pool.hostHeader + "\r\n";
      head += h;
      chunked = r.body !== null && !r.blockHasLength;
    } else {
      if (!h.has("host")) head += "host: " + conn.pool.hostHeader + "\r\n";
      h.forEach((v, k) => { head += k + ": " + v + "\r\n"; });
      chunked = r.body !== null && !h.has("content-length");
    }
    if (chunked) head += "transfer-encoding: chunked\r\n";
    head += "\r\n";
    // Header values are byte strings: bytes above 0x7f go out as they came (latin1), not UTF-8 encoded.
    pool.writeAll(conn, NON_ASCII.test(head) ? Buffer.from(head, "latin1") : head);
    if (r.body !== null) void sendBody(conn, ex, r.body, chunked);
  }

  /**
   * The client's body toward the upstream. While the client's next bytes are awaited the head clock
   * is stopped (a slow upload is bounded by the listener's idle timeout and is not the upstream's
   * fault); waiting on the upstream to drain is counted. A client body that breaks (the client went
   * away, stalled past the idle timeout, sent a bad chunk) fails the attempt as "client".
   */
  async function sendBody(conn: Conn, ex: Exchange, body: ReadableStream<Uint8Array>, chunked: boolean): Promise<void> {
    const reader = body.getReader();
    try {
      for (;;) {
        ex.deadline = Infinity;
        const r = await reader.read();
        ex.deadline = Date.now() + ex.span;
        if (conn.closed || ex.phase === Phase.Done) { void reader.cancel().catch(noop); return; }
        if (r.done) break;
        const chunk = r.value;
        if (chunk.byteLength === 0) continue;
        if (chunked) pool.writeAll(conn, `${chunk.byteLength.toString(16)}\r\n`);
        pool.writeAll(conn, chunk);
        if (chunked) pool.writeAll(conn, "\r\n");
        if (conn.pending) await pool.drained(conn);
      }
      if (chunked && !conn.closed) pool.writeAll(conn, "0\r\n\r\n");
    } catch (err) {
      const e = err instanceof UpstreamError ? err : new UpstreamError("client", `the client's request body failed: ${(err as Error)?.message ?? String(err)}`);
      fail(ex, e);
      destroy(ex, conn);
    }
  }

  return {
    kind: "pooled",
    acceptsHeaderBlock: true,
    send(r) {
      if (pool.closed) return Promise.reject(new UpstreamError("other", "client closed"));
      if (r.base.charCodeAt(4) === 115 /* https */) return tlsFallback.send(r);
      const signal = r.signal;
      if (signal?.aborted) return Promise.reject(clientGone());
      return new Promise<UpstreamResponse>((resolve, reject) => {
        const ex: Exchange = {
          req: r, pool, resolve, reject, phase: Phase.Head, head: null, receivedAny: false, settled: false, keepAlive: true,
          remaining: 0, controller: null, chunk: ChunkState.Size, line: "", conn: null,
          deadline: r.deadline, span: Math.max(0, r.deadline - Date.now()), connectTimeoutMs: r.connectTimeoutMs,
          start(conn) { write(ex, conn); },
          onData(conn, data) { onData(ex, conn, data); },
          onClose(conn, retry) { onClose(ex, conn, retry); },
          fail(err) { fail(ex, err); },
        };
        // The client left before the head: abandon the attempt (the connection is mid-request, so it goes).
        signal?.addEventListener("abort", () => {
          if (ex.settled) return;
          fail(ex, clientGone());
          ex.phase = Phase.Done;
          if (ex.conn !== null) destroy(ex, ex.conn);
        }, { once: true });
        pool.send(pool.poolFor(r.base), ex);
      });
    },
    close() { pool.close(); },
  };
}
