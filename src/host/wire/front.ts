/**
 * The front listener of a wire port (plugin `serve.wire`): Bun.listen, HTTP/1.1 parsed from the
 * socket bytes. Each request head goes to the current generation's WireHandler (the plugin's fast
 * path, no Request/Response objects at all); what it declines, and /health, /metrics, upgrades and
 * streamed bodies, is relayed to the inner Bun.serve through the tunnel. One exchange at a time per
 * connection: pipelined requests wait in the buffer, so responses stay in order.
 */
import type { Socket, TCPSocketListener } from "bun";
import { CRLFCRLF, MalformedHead, parseRequestHead, type RequestHead } from "../../lib/http1/head";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../lib/http1/framer";
import { TARGET_FIELD, targetNeedsRaw } from "../../lib/http1/raw-target";
import type { PipeLimits, WireClient, WireRequest } from "../../core/wire";
import type { Logger } from "../../core/log";
import { HostErrors } from "../../core/errors";
import { acceptRequestId } from "../../core/http";
import { RequestContext, runInRequest } from "../../core/request-context";
import type { Generation, Slot } from "../slot";
import { Tunnel, type Exchange, type TunnelClient } from "./tunnel";
import { WsPipeClose } from "./ws-pipe-close";
import { WS_GOING_AWAY } from "../../lib/http1/ws-frames";
import type { PeerVerdict } from "../tls-peers";

/** Bun.serve refuses larger heads too; the same ceiling keeps both lanes alike. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Pipelined bytes held while a response is in progress before reading pauses. */
const MAX_BUFFERED = 256 * 1024;
/**
 * Paused reading resumes once what is held drops below this (or more bytes are needed to go on), so a
 * new read never copies much of what already waits: resuming after every answer made each pipelined
 * request cost a copy of the whole held buffer.
 */
const RESUME_BELOW = 32 * 1024;
/** Default: a request head must be complete this long after its first byte (slow-header clients get 408, as nginx's client_header_timeout). */
export const HEAD_TIMEOUT_MS = 30_000;

export interface FrontOptions {
  hostname: string;
  port: number;
  /** SO_REUSEPORT (several worker processes on the port). */
  reusePort: boolean;
  slot: Slot;
  log: Logger;
  tunnel: Tunnel;
  idleTimeoutS: number;
  /** How long a request head may take to arrive (408 after). */
  headTimeoutMs: number;
  /** Called when a generation's in-flight count drops (the listener's accounting). */
  finish(gen: Generation): void;
  /** Platform mTLS: terminate TLS here, and admit each client certificate live (revocation, SPIFFE ID). */
  tls?: Bun.TLSOptions;
  peers?: PeerVerdict;
}

function isHostPath(target: string): boolean {
  return (target.startsWith("/health") && (target.length === 7 || target.charCodeAt(7) === 63 || target.charCodeAt(7) === 47))
    || (target.startsWith("/metrics") && (target.length === 8 || target.charCodeAt(8) === 63))
    || (target.startsWith("/openapi.json") && (target.length === 13 || target.charCodeAt(13) === 63))
    || (target.startsWith("/docs") && (target.length === 5 || target.charCodeAt(5) === 63))
    || (target.startsWith("/-/config") && (target.length === 9 || target.charCodeAt(9) === 63));
}

/** The methods Bun.serve parses (it drops the connection on any other, "get" included): the rest get a 501 here. */
const BUN_METHODS = new Set("ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL MOVE NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE".split(" "));

/** A client's own TARGET_FIELD is dropped; the real target rides in it when Bun's URL parser would change it (raw-target.ts). */
function markTarget(head: RequestHead): void {
  const p = head.headers.pairs;
  for (let i = 0; i < p.length; i += 2) if (p[i] === TARGET_FIELD) { p.splice(i, 2); i -= 2; }
  if (targetNeedsRaw(head.target)) p.push(TARGET_FIELD, head.target);
}

/** `requestId`: the caller's when the head was parsed (and it is acceptable), else a fresh one. */
function errorBytes(status: number, reason: string, code: string, message: string, requestId: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`;
}

class FrontConn implements WireClient, TunnelClient {
  onDrain: (() => void) | null = null;
  onClose: (() => void) | null = null;
  closed = false;
  /** Bytes received but not yet taken (a partial head, or requests pipelined behind the current one). */
  private buf: Buffer | null = null;
  private busy = false;
  private gen: Generation | null = null;
  private keepAlive = true;
  private out: Uint8Array[] | null = null;
  private endAfterFlush = false;
  /** The request body still streaming toward the tunnel. */
  private bodyFramer: BodyFramer | null = null;
  private exchange: Exchange | null = null;
  private readPaused = false;
  /** A pipelined request waits for the previous answer to be flushed. */
  private nextAfterFlush = false;
  /** Inside process(): a synchronous done() must not recurse into the next request. */
  private processing = false;
  /** Set after switchProtocols: the connection is a byte pipe. */
  private raw: { data(bytes: Buffer): void; end(): void } | null = null;
  /** Last byte either way through the pipe (the idle timeout of an upgraded connection). */
  private rawActiveAt = 0;
  /** The protocol the current request asked to upgrade to (lower-cased), for the pipe it may become. */
  private upgradeTo: string | null = null;
  /** A WebSocket pipe: frame boundaries each way, so a retiring port can close it with a Close frame. */
  ws: WsPipeClose | null = null;
  /** When the partial head in `buf` started arriving (0: none pending). */
  headSince = 0;
  /** The wire-lane request being handled (request-context.ts), its method and target, and when it started (debug). */
  private ctx: RequestContext | null = null;
  private ctxStart = -1;
  private ctxWhat = "";
  readonly ip: string;
  /** SPIFFE ID of the TLS client certificate (set at the handshake; "" without one in the certificate). */
  peerId?: string;
  /** Its serial: a keep-alive connection whose certificate is revoked since is closed at its next request. */
  peerSerial?: string;

  constructor(readonly socket: Socket<FrontConn>, private readonly o: FrontOptions) {
    this.ip = socket.remoteAddress ?? "";
  }

  // ---- bytes in -----------------------------------------------------------------------------------

  onData(data: Buffer): void {
    if (this.closed) return;
    if (this.raw !== null) {
      this.rawActiveAt = Date.now();
      if (this.ws !== null) this.ws.fromClient(data);
      else this.raw.data(data);
      return;
    }
    if (this.busy) {
      if (this.exchange !== null && this.exchange.phase === 2 /* Pipe */) { if (!this.exchange.write(data)) this.pauseReading(); return; }
      if (this.bodyFramer !== null) { this.streamBody(data, 0); return; }
      this.hold(data);
      return;
    }
    const b = this.buf === null ? data : Buffer.concat([this.buf, data]);
    if (b.length > MAX_BUFFERED) this.pauseReading();
    this.process(b, this.buf !== null);
  }

  private hold(data: Buffer): void {
    this.buf = this.buf === null ? Buffer.from(data) : Buffer.concat([this.buf, data]);
    if (this.buf.length > MAX_BUFFERED) this.pauseReading();
  }

  pauseReading(): void {
    if (!this.readPaused) { this.readPaused = true; this.socket.pause(); }
  }

  resumeReading(): void {
    if (this.readPaused && !this.closed) { this.readPaused = false; this.socket.resume(); }
  }

  /**
   * Take the next request from `b` (all unprocessed bytes). `owned`: `b` is ours (not the socket's
   * read buffer), so what follows the request is kept as a view of it. Copying the pipelined rest per
   * request made each request cost O(bytes buffered) and fed the GC hundreds of MB on a long pipeline.
   */
  private process(b: Buffer, owned: boolean): void {
    this.processing = true;
    try { this.take(b, owned); } finally { this.processing = false; }
  }

  private take(b: Buffer, owned: boolean): void {
    this.buf = null;
    let start = 0;
    while (start + 1 < b.length && b[start] === 13 && b[start + 1] === 10) start += 2; // RFC 9112 §2.2: stray CRLFs before a request
    const end = b.indexOf(CRLFCRLF, start);
    if (end === -1) {
      if (b.length - start > MAX_HEAD_BYTES) return this.reject(431, "Request Header Fields Too Large", "HOST_ERR_HEADERS_TOO_LARGE", `the request head exceeds ${MAX_HEAD_BYTES} bytes`);
      if (b.indexOf("\n\n", start) !== -1) return this.reject(400, "Bad Request", "HOST_ERR_BAD_REQUEST", "header lines must end with CRLF");
      if (b.length > start) {
        this.buf = owned ? b.subarray(start) : Buffer.from(b.subarray(start));
        if (this.headSince === 0) this.headSince = Date.now();
      }
      this.resumeReading(); // the rest of the head is needed
      return;
    }
    this.headSince = 0;
    if (this.peerSerial !== undefined && this.o.peers!.revokedNow(this.peerSerial)) { this.socket.terminate(); return; }
    if (end - start > MAX_HEAD_BYTES) return this.reject(431, "Request Header Fields Too Large", "HOST_ERR_HEADERS_TOO_LARGE", `the request head exceeds ${MAX_HEAD_BYTES} bytes`);
    let head: RequestHead;
    try {
      head = parseRequestHead(b, start, end);
    } catch (err) {
      if (err instanceof MalformedHead) return this.reject(400, "Bad Request", "HOST_ERR_BAD_REQUEST", err.message);
      throw err;
    }
    const slot = this.o.slot;
    const gen = slot.gen;
    const wire = gen.instance.wire;
    const bodyStart = head.bodyStart;
    const inHand = b.length - bodyStart;
    const bodyEnd = head.contentLength > 0 && !head.chunked ? bodyStart + head.contentLength : bodyStart;
    const whole = !head.chunked && bodyEnd <= b.length;
    this.busy = true;
    this.keepAlive = head.keepAlive && head.framing === undefined;

    const offer = !head.special || (head.upgrade !== null && !head.expect && !head.chunked && head.contentLength <= 0);
    if (wire !== undefined && !slot.closing && head.minor === 1 && offer && (whole || head.framing !== undefined) && !isHostPath(head.target)) {
      const req: WireRequest = head;
      req.body = head.contentLength > 0 && whole ? b.subarray(bodyStart, bodyEnd) : null;
      req.clientIp = this.ip;
      this.upgradeTo = head.upgrade === null ? null : head.upgrade.toLowerCase();
      if (whole && bodyEnd < b.length && head.framing === undefined) this.buf = owned ? b.subarray(bodyEnd) : Buffer.from(b.subarray(bodyEnd));
      this.gen = gen;
      gen.inflight++;
      // The plugin handles the request inside its context (log lines carry its ids) until it answers.
      const ctx = (this.ctx = new RequestContext(head.headers));
      if (this.o.log.isEnabled("debug")) { this.ctxStart = performance.now(); const q = head.target.indexOf("?"); this.ctxWhat = head.method + " " + (q < 0 ? head.target : head.target.slice(0, q)); }
      let taken = false;
      try {
        taken = runInRequest(ctx, wire, req, this);
      } catch (err) {
        this.o.log.error("wire handler threw", { err, request_id: ctx.id(), trace_id: ctx.trace() });
        if (this.gen === gen) { this.gen = null; this.o.finish(gen); }
        this.endContext(500);
        return this.reject(500, "Internal Server Error", "HOST_ERR_INTERNAL", HostErrors.specs.HOST_ERR_INTERNAL.message, head.headers.get("x-request-id"));
      }
      if (taken) return;
      this.ctx = null;
      ctx.end();
      this.gen = null;
      this.o.finish(gen);
      this.buf = null;
    }
    if (head.framing !== undefined) return this.reject(400, "Bad Request", "HOST_ERR_BAD_REQUEST", `request framing is ambiguous (${head.framing})`, head.headers.get("x-request-id"));

    // The slow lane: the inner Bun.serve answers (the plugin's fetch handler, /health, /metrics...).
    if (!BUN_METHODS.has(head.method)) return this.reject(501, "Not Implemented", "HOST_ERR_METHOD_NOT_IMPLEMENTED", `the method "${head.method.slice(0, 32)}" is not implemented (methods are case-sensitive)`, head.headers.get("x-request-id"));
    markTarget(head);
    const ex = this.o.tunnel.open(this, head, this.ip, this.peerId);
    this.exchange = ex;
    if (head.chunked || head.contentLength > 0) {
      this.bodyFramer = head.chunked ? new BodyFramer().chunked() : new BodyFramer().length(head.contentLength);
      if (inHand > 0) this.streamBody(b, bodyStart, owned); // the rest follows in later reads
      else this.resumeReading();
    } else {
      ex.requestComplete();
      if (bodyStart < b.length) this.buf = owned ? b.subarray(bodyStart) : Buffer.from(b.subarray(bodyStart));
    }
  }

  /**
   * Request body bytes toward the tunnel; whatever follows the body is the next request. Chunked
   * trailer fields are dropped (RFC 9110 §6.5.1 lets a proxy discard them; Bun.serve refuses them).
   */
  private streamBody(b: Buffer, at: number, owned = false): void {
    const framer = this.bodyFramer!;
    const ex = this.exchange!;
    const wasInTrailers = framer.inTrailers;
    const end = framer.advance(b, at, b.length);
    if (end === FRAMER_ERROR) {
      ex.cancel();
      this.reject(400, "Bad Request", "HOST_ERR_BAD_REQUEST", `malformed chunked body: ${framer.error}`);
      return;
    }
    const more = end === FRAMER_MORE;
    let stop = more ? b.length : end;
    if (wasInTrailers) stop = at;
    else if (framer.trailerAt !== -1) stop = framer.trailerAt;
    const trimmed = wasInTrailers || framer.trailerAt !== -1;
    let ok = stop > at ? ex.write(at === 0 && stop === b.length ? b : b.subarray(at, stop)) : true;
    if (!more && trimmed) ok = ex.write("\r\n") && ok; // the blank line that ends the chunked body
    if (!more) {
      this.bodyFramer = null;
      ex.requestComplete();
      if (end < b.length) { if (owned && this.buf === null) this.buf = b.subarray(end); else this.hold(b.subarray(end)); }
    }
    if (!ok) this.pauseReading();
    else if (more) this.resumeReading(); // the rest of the body is needed
  }

  // ---- bytes out (WireClient / TunnelClient) ------------------------------------------------------

  /** Bytes the socket did not take are copied: callers may reuse their buffer as soon as this returns. */
  write(data: string | Uint8Array): boolean {
    if (this.ws !== null && !this.closed) return this.ws.toClient(typeof data === "string" ? Buffer.from(data, "latin1") : data);
    return this.writeRaw(data);
  }

  /** write() without the WebSocket pipe's frame tracking (the tracker's own way out). */
  writeRaw(data: string | Uint8Array): boolean {
    if (this.closed) return false;
    if (this.raw !== null) this.rawActiveAt = Date.now();
    if (this.out !== null) { this.out.push(typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data)); return false; }
    const len = typeof data === "string" ? data.length : data.byteLength;
    const n = this.socket.write(data);
    if (n >= len) return true;
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    this.out = [Buffer.from(bytes.subarray(Math.max(0, n)))];
    this.flushedAt = Date.now();
    return false;
  }

  onWritable(): void {
    const out = this.out;
    if (out === null) return;
    while (out.length > 0) {
      const chunk = out[0];
      const n = this.socket.write(chunk);
      if (n > 0) this.flushedAt = Date.now();
      if (n < chunk.byteLength) { out[0] = chunk.subarray(Math.max(0, n)); return; }
      out.shift();
    }
    this.out = null;
    if (this.endAfterFlush) { this.socket.end(); return; }
    const d = this.onDrain;
    if (d !== null) { this.onDrain = null; d(); }
    if (this.nextAfterFlush) { this.nextAfterFlush = false; this.next(); }
  }

  done(keepAlive: boolean): void {
    if (!this.busy) return;
    this.busy = false;
    this.endContext(0);
    this.exchange = null;
    this.onDrain = null;
    this.onClose = null;
    const gen = this.gen;
    if (gen !== null) { this.gen = null; this.o.finish(gen); }
    if (!keepAlive || !this.keepAlive || this.bodyFramer !== null || this.o.slot.closing || this.stopping) {
      this.bodyFramer = null;
      this.closeAfterFlush();
      return;
    }
    if (this.buf === null || this.buf.length <= RESUME_BELOW) this.resumeReading();
    if (this.buf === null) return;
    // A handler that answers synchronously calls done() from inside process(): take the next pipelined
    // request on a fresh stack, so a long pipeline cannot grow the stack one request at a time.
    if (this.processing) queueMicrotask(() => this.next());
    else this.next();
  }

  private next(): void {
    const b = this.buf;
    if (b === null || this.busy || this.closed) return;
    // A client that pipelines without reading: answer the next request only once the last answer is flushed,
    // so what we hold for it stays bounded (its input is capped by MAX_BUFFERED).
    if (this.out !== null) { this.nextAfterFlush = true; return; }
    this.process(b, true);
  }

  switchProtocols(peer: { data(bytes: Buffer): void; end(): void }, limits: PipeLimits = {}): void {
    this.endContext(101);
    const gen = this.gen;
    if (gen !== null) { this.gen = null; this.o.finish(gen); }
    this.onClose = null;
    this.raw = peer;
    this.rawActiveAt = Date.now();
    if (limits.idleTimeoutMs !== undefined) {
      this.rawIdleMs = limits.idleTimeoutMs;
      this.socket.timeout(Math.max(1, Math.ceil(limits.idleTimeoutMs / 1000)));
    }
    if (this.upgradeTo === "websocket") this.ws = new WsPipeClose(this, peer, limits.maxMessageBytes ?? 0);
    this.headSince = 0;
    const b = this.buf; // bytes the client sent after the upgrade request belong to the new protocol
    this.buf = null;
    if (b !== null && b.length > 0) { if (this.ws !== null) this.ws.fromClient(b); else peer.data(b); }
    this.resumeReading();
  }

  /** The route's idle limit of an upgraded connection (undefined: the listener's). */
  rawIdleMs: number | undefined = undefined;

  end(): void {
    this.busy = true; // nothing more is read as HTTP
    this.closeAfterFlush();
  }

  abort(): void {
    this.endContext(0);
    this.busy = false;
    const gen = this.gen;
    if (gen !== null) { this.gen = null; this.o.finish(gen); }
    this.closed = true;
    this.socket.terminate();
  }

  /** The wire-lane request is answered (or gone): its context ends; at debug, one line for it. */
  private endContext(status: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    this.ctx = null;
    if (this.ctxStart >= 0) {
      const fields = { lane: "wire", request: this.ctxWhat, status: status || undefined, ms: Math.round((performance.now() - this.ctxStart) * 100) / 100 };
      runInRequest(ctx, (log, f) => log.debug("request", f), this.o.log, fields); // in its context: the line names the request
      this.ctxStart = -1;
    }
    ctx.end();
  }

  private closeAfterFlush(): void {
    if (this.out === null) this.socket.end();
    else this.endAfterFlush = true;
  }

  private reject(status: number, reason: string, code: string, message: string, givenId: string | null = null): void {
    this.busy = true;
    this.buf = null;
    this.write(errorBytes(status, reason, code, message, acceptRequestId(givenId)));
    this.closeAfterFlush();
  }

  /** The head has been trickling in for too long: 408 and close. */
  headTimedOut(now: number): boolean {
    const limit = this.o.headTimeoutMs;
    if (this.headSince === 0 || this.busy || now - this.headSince < limit) return false;
    this.headSince = 0;
    this.reject(408, "Request Timeout", "HOST_ERR_REQUEST_TIMEOUT", `the request head was not complete within ${limit} ms`);
    return true;
  }

  /** Set when the listener stops: finish the current exchange, then close. */
  stopping = false;

  /** A byte pipe after a protocol switch (WebSocket...). */
  get upgraded(): boolean { return this.raw !== null && !this.closed; }

  /** End an upgraded connection: a WebSocket with Close frames both ways (code, reason), anything else by closing. */
  goAway(code: number, reason: string): void {
    if (this.ws !== null) this.ws.close(code, reason);
    else if (this.raw !== null) { this.raw.end(); this.end(); }
  }

  /** Idle (between requests, nothing buffered): safe to close now. */
  get idle(): boolean { return !this.busy && this.buf === null && this.raw === null; }

  /** When buffered answer bytes last moved to the socket. */
  private flushedAt = 0;

  /** An answer waits to be written and the client has taken none of it for `ms` (it stopped reading). */
  writeStalledFor(ms: number): boolean { return this.out !== null && this.raw === null && Date.now() - this.flushedAt >= ms; }

  /** An upgraded connection with no byte either way for `ms`. */
  rawIdleFor(ms: number): boolean { return this.raw !== null && Date.now() - this.rawActiveAt >= ms; }

  /** A request body is still expected from the client and we are not the ones holding it back. */
  get awaitingBody(): boolean { return this.bodyFramer !== null && !this.readPaused; }

  onSocketClose(): void {
    this.endContext(0);
    if (this.closed && this.gen === null) return;
    this.closed = true;
    const gen = this.gen;
    if (gen !== null) { this.gen = null; this.o.finish(gen); }
    this.exchange?.cancel();
    this.exchange = null;
    const raw = this.raw;
    this.raw = null;
    if (raw !== null) raw.end();
    const c = this.onClose;
    this.onClose = null;
    if (c !== null) c();
  }
}

export interface Front {
  listener: TCPSocketListener<FrontConn>;
  port: number;
  /**
   * TLS: serve new connections with other certificates (the host's renewed one) without dropping any: a
   * second listener on the port (SO_REUSEPORT) takes new connections, the old one stops accepting, and
   * the connections it accepted carry on. Bun.listen cannot change a listening socket's TLS context.
   */
  retls(tls: Bun.TLSOptions): void;
  /** force false: stop accepting, close idle connections, let busy ones finish; true: drop everything. */
  stop(force: boolean): void;
  /** Let upgraded connections run up to `graceMs`, then close them (WebSocket: Close frames with `code`). */
  closeUpgraded(code: number, reason: string, graceMs: number): Promise<void>;
}

export function listenFront(o: FrontOptions): Front {
  const conns = new Set<FrontConn>();
  const listen = (port: number, tls: Bun.TLSOptions | undefined, reusePort: boolean) => Bun.listen<FrontConn>({
    hostname: o.hostname,
    port,
    // Bun.listen takes reusePort (SO_REUSEPORT) at run time; its listen options type does not declare it.
    ...({ reusePort } as object),
    ...(tls ? { tls } : {}),
    socket: {
      binaryType: "buffer",
      // TLS: BoringSSL verified the chain; the live verdict (revoked now?) decides before any byte is read.
      handshake(s, ok) {
        const cert = ok ? s.getPeerCertificate() : undefined;
        const verdict = cert && o.peers ? o.peers.admit(cert) : false;
        if (verdict === false) { s.terminate(); return; }
        s.data.peerId = verdict;
        s.data.peerSerial = cert!.serialNumber;
      },
      open(s) {
        const c = new FrontConn(s, o);
        s.data = c;
        conns.add(c);
        s.setNoDelay(true);
        s.timeout(o.idleTimeoutS);
      },
      data(s, d) { s.data.onData(d); },
      drain(s) { s.data.onWritable(); },
      close(s) { conns.delete(s.data); s.data.onSocketClose(); },
      error(s) { conns.delete(s.data); s.data.onSocketClose(); },
      // Idle between requests → close; a request body that stopped arriving for as long → drop (the
      // upstream sees the upload aborted); an upgraded connection with no byte either way for as long →
      // close; waiting on our side (a slow upstream) → keep waiting.
      timeout(s) {
        if (s.data.idle) s.end();
        else if (s.data.awaitingBody) s.terminate();
        else if (s.data.rawIdleFor(s.data.rawIdleMs ?? o.idleTimeoutS * 1000)) s.data.goAway(WS_GOING_AWAY, "idle timeout");
        // A client that stopped reading an answer for as long: drop it (it would hold an upstream connection forever).
        else if (s.data.writeStalledFor(o.idleTimeoutS * 1000)) s.terminate();
        else s.timeout(s.data.rawIdleMs !== undefined ? Math.max(1, Math.ceil(s.data.rawIdleMs / 1000)) : o.idleTimeoutS);
      },
    },
  });
  // A TLS front binds with SO_REUSEPORT so retls() can open a second listener on the port; a plain bind
  // first keeps a port held by anyone else an error (EADDRINUSE) rather than a silent share.
  if (o.tls && !o.reusePort && o.port !== 0) Bun.listen({ hostname: o.hostname, port: o.port, socket: { data() {} } }).stop(true);
  let listener = listen(o.port, o.tls, o.reusePort || o.tls !== undefined);
  const headSweep = setInterval(() => {
    const now = Date.now();
    for (const c of conns) c.headTimedOut(now);
  }, Math.min(1000, Math.max(50, o.headTimeoutMs / 4)));
  (headSweep as unknown as { unref?: () => void }).unref?.();
  return {
    get listener() { return listener; },
    port: listener.port,
    retls(tls) {
      const old = listener;
      listener = listen(old.port, tls, true);
      old.stop(false);
      o.log.info("listener serves a renewed certificate to new connections; open connections carry on", { port: old.port });
    },
    async closeUpgraded(code, reason, graceMs) {
      const upgraded = () => [...conns].filter((c) => c.upgraded);
      const deadline = Date.now() + graceMs;
      while (upgraded().length > 0 && Date.now() < deadline) await Bun.sleep(Math.min(200, Math.max(1, deadline - Date.now())));
      const left = upgraded();
      if (left.length === 0) return;
      o.log.info("closing upgraded connections of a retired listener", { port: listener.port, count: left.length, code, reason });
      for (const c of left) c.goAway(code, reason);
      const until = Date.now() + 3000;
      while (upgraded().length > 0 && Date.now() < until) await Bun.sleep(20);
    },
    stop(force) {
      clearInterval(headSweep);
      listener.stop(force);
      for (const c of conns) {
        if (force) { c.socket.terminate(); continue; }
        c.stopping = true;
        if (c.idle) c.socket.end();
      }
    },
  };
}
