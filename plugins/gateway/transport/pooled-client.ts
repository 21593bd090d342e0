/**
 * The pooled HTTP/1.1 client for the fetch lane (and the UpstreamClient contract): keep-alive
 * connections per instance reused across requests (the pool the wire lane relays on), the request
 * head written in one write, the client's body streamed with backpressure. The response is read with
 * the one HTTP/1.1 codec (src/lib/http1: parseResponseHead, BodyFramer decoding chunked bodies) and
 * handed back as a Response's parts; a small Content-Length body that came with its head (the common
 * case) is handed over as bytes, with no stream at all. https instances are reached on the pool's TLS
 * connections with the service's upstream TLS options, as the wire lane reaches them.
 */
import { CRLFCRLF, MAX_RESPONSE_HEAD, MalformedHead, parseResponseHead, responseHasNoBody } from "../../../src/lib/http1/head";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../../src/lib/http1/framer";
import { HOP_BY_HOP } from "../../../src/lib/http1/hop-by-hop";
import { UpstreamError, clientGone, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from "./upstream-client";
import { ConnectionPool, type Conn, type PoolExchange } from "./pool";

const NON_ASCII = /[^\x00-\x7f]/;

const enum Phase { Head, Body, Done }

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
  /** Head bytes so far, while the head is incomplete. */
  head: Buffer | null;
  receivedAny: boolean;
  keepAlive: boolean;
  framer: BodyFramer;
  controller: ReadableStreamDefaultController<Uint8Array> | null;
}

function noop(): void {}

function fail(ex: Exchange, err: UpstreamError): void {
  if (ex.settled) {
    if (ex.controller) { try { ex.controller.error(err); } catch { /* already closed */ } ex.controller = null; }
    return;
  }
  ex.settled = true;
  ex.reject(err);
}

/** The response is complete: the connection goes back to the idle list when it may be reused. */
function complete(conn: Conn, ex: Exchange, reusable: boolean): void {
  ex.phase = Phase.Done;
  if (ex.controller) { try { ex.controller.close(); } catch { /* cancelled */ } ex.controller = null; }
  ex.pool.complete(conn, ex.keepAlive && reusable);
}

function bodyStream(conn: Conn, ex: Exchange): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) { ex.controller = controller; },
    pull() { if (conn.paused && !conn.closed) { conn.paused = false; conn.socket!.resume(); } },
    cancel() {
      // The client went away mid-body: this connection cannot be reused.
      ex.controller = null;
      if (ex.phase !== Phase.Done) { ex.phase = Phase.Done; ex.pool.destroy(conn); }
    },
  }, { highWaterMark: 64 * 1024, size: (c) => c?.byteLength ?? 0 });
}

/** Body bytes as they come, through the framer (chunk framing removed); backpressure pauses the socket. */
function onBody(conn: Conn, ex: Exchange, buf: Buffer, at: number): void {
  const c = ex.controller;
  const end = ex.framer.advance(buf, at, buf.length, (from, to) => { if (ex.controller !== null) ex.controller.enqueue(buf.subarray(from, to)); });
  if (end === FRAMER_ERROR) {
    ex.phase = Phase.Done;
    fail(ex, new UpstreamError("reset", ex.framer.error));
    ex.pool.destroy(conn);
    return;
  }
  if (end !== FRAMER_MORE) { complete(conn, ex, end === buf.length); return; }
  if (c !== null && (c.desiredSize ?? 1) <= 0 && !conn.paused) { conn.paused = true; conn.socket?.pause(); }
}

/** A complete head in buf[0, end): resolve the exchange; returns where the body starts, or -1 (failed, or an interim 1xx skipped: see phase). */
function onHead(conn: Conn, ex: Exchange, buf: Buffer, end: number): number {
  let r;
  try {
    r = parseResponseHead(buf, 0, end);
  } catch (e) {
    fail(ex, new UpstreamError("other", e instanceof MalformedHead ? `malformed upstream response head: ${e.reason}` : String(e)));
    ex.pool.destroy(conn);
    return -1;
  }
  const status = r.status;
  // 1xx (other than 101) are interim: skip them and read the final head.
  if (status < 200 && status !== 101) return end + 4;
  const headers = new Headers();
  const tokens = r.connectionTokens;
  const p = r.pairs;
  for (let i = 0; i < p.length; i += 2) {
    const name = p[i];
    if (HOP_BY_HOP.has(name) || (tokens !== undefined && tokens.includes(name)) || (r.chunked && name === "content-length")) continue;
    headers.append(name, p[i + 1]);
  }
  const statusText = r.statusLine.slice(13);
  ex.keepAlive = !r.close;
  ex.settled = true;
  ex.head = null;
  const rest = end + 4;
  if (responseHasNoBody(ex.req.method, status)) {
    ex.resolve({ status, statusText, headers, body: null, discard: noop });
    complete(conn, ex, true);
    return -1;
  }
  const framer = ex.framer;
  if (r.chunked) framer.chunked();
  else if (r.contentLength >= 0) {
    if (buf.length - rest >= r.contentLength) {
      // Fast path: the whole body came with the head.
      ex.resolve({ status, statusText, headers, body: buf.subarray(rest, rest + r.contentLength), discard: noop });
      complete(conn, ex, buf.length === rest + r.contentLength);
      return -1;
    }
    framer.length(r.contentLength);
  } else {
    framer.untilClose();
    ex.keepAlive = false;
  }
  ex.phase = Phase.Body;
  const body = bodyStream(conn, ex);
  ex.resolve({ status, statusText, headers, body, discard: () => { void body.cancel().catch(noop); } });
  return rest;
}

function onData(ex: Exchange, conn: Conn, data: Buffer): void {
  ex.receivedAny = true;
  if (ex.phase === Phase.Body) { onBody(conn, ex, data, 0); return; }
  let buf = data;
  while (ex.phase === Phase.Head) {
    if (ex.head !== null) { buf = Buffer.concat([ex.head, buf]); ex.head = null; }
    const end = buf.indexOf(CRLFCRLF);
    if (end === -1) {
      if (buf.length > MAX_RESPONSE_HEAD) { fail(ex, new UpstreamError("other", "upstream response head too large")); ex.pool.destroy(conn); }
      else ex.head = buf;
      return;
    }
    const next = onHead(conn, ex, buf, end);
    if (next === -1 || next >= buf.length) return;
    if (ex.phase === Phase.Head) { buf = buf.subarray(next); continue; } // after a 1xx
    if (conn.ex !== ex) return; // completed (and maybe reused) already
    onBody(conn, ex, buf, next);
  }
}

function onClose(ex: Exchange, conn: Conn, retry: () => void): void {
  if (ex.phase === Phase.Done) return;
  if (ex.phase === Phase.Body && ex.framer.closeDelimited) { complete(conn, ex, false); return; }
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
      pool.destroy(conn);
    }
  }

  return {
    kind: "pooled",
    acceptsHeaderBlock: true,
    send(r) {
      if (pool.closed) return Promise.reject(new UpstreamError("other", "client closed"));
      const signal = r.signal;
      if (signal?.aborted) return Promise.reject(clientGone());
      return new Promise<UpstreamResponse>((resolve, reject) => {
        const ex: Exchange = {
          req: r, pool, resolve, reject, phase: Phase.Head, head: null, receivedAny: false, settled: false, keepAlive: true,
          framer: new BodyFramer(), controller: null, conn: null,
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
          if (ex.conn !== null) pool.destroy(ex.conn);
        }, { once: true });
        pool.send(pool.poolFor(r.base, r.base.charCodeAt(4) === 115 /* https */ ? (r.tls ?? true) : undefined), ex);
      });
    },
    close() { pool.close(); },
  };
}
