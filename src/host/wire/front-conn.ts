/**
 * One connection of a wire port's front: HTTP/1.1 exchanges parsed from the socket bytes. A head goes to
 * the generation's WireHandler (the plugin's fast path, no Request/Response objects); what it declines,
 * /health, /metrics, upgrades and streamed bodies (for a handler without `streamsBodies`) go through the
 * tunnel to the inner Bun.serve. One exchange at a time, so pipelined answers stay in order, except for a
 * handler that takes pipelined requests (front-pipeline.ts: offered at once, answered in order). The
 * socket side is FrontSocket (front-socket.ts), request bodies FrontBody (front-body.ts).
 */
import type { Socket } from "bun";
import { CRLFCRLF, MalformedHead, parseRequestHead, type RequestHead } from "../../lib/http1/head";
import type { PipeLimits, WireClient, WireRequest } from "../../core/wire";
import { HostErrors } from "../../core/errors";
import { acceptRequestId } from "../../core/http";
import { runInRequest } from "../../core/request-context";
import type { Generation } from "../slot";
import type { TunnelClient } from "./tunnel";
import type { PipePeer } from "./ws-pipe-close";
import { MAX_BUFFERED, MAX_HEAD_BYTES, RESUME_BELOW, type FrontOptions } from "./front-options";
import { BUN_METHODS, errorBytes, expectsContinueOnly, isHostPath, markTarget, requestIdInRawHead } from "./head-rules";
import { FrontBody } from "./front-body";
import { Pipeline, type PipelineConn } from "./front-pipeline";
import { WireRequestContext } from "./wire-context";

export class FrontConn extends FrontBody implements WireClient, TunnelClient, PipelineConn {
  onClose: (() => void) | null = null;
  private busy = false;
  private gen: Generation | null = null;
  /** Inside process(): a synchronous done() must not recurse into the next request. */
  private processing = false;
  /** The protocol the current request asked to upgrade to (lower-cased), for the pipe it may become. */
  private upgradeTo: string | null = null;
  /** When the partial head in `buf` started arriving (0: none pending). */
  headSince = 0;
  /** The wire-lane request being handled (wire-context.ts). */
  private ctx: WireRequestContext | null = null;
  /** Set when the listener stops: finish the current exchange, then close. */
  stopping = false;
  /** Requests offered to a pipelining handler ahead of their answers (front-pipeline.ts); null until a client pipelines. */
  private pipe: Pipeline | null = null;
  readonly ip: string;
  /** SPIFFE ID of the TLS client certificate (set at the handshake; "" without one in the certificate). */
  peerId?: string;
  /** Its serial: a keep-alive connection whose certificate is revoked since is closed at its next request. */
  peerSerial?: string;

  constructor(socket: Socket<FrontConn>, private readonly o: FrontOptions) {
    super(socket);
    this.ip = socket.remoteAddress ?? "";
  }

  // ---- bytes in: heads, hand-off, bodies -------------------------------------------------------
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
      if (this.bodyFramer !== null) { this.bodyIn(data); return; }
      this.hold(data);
      if (this.pipe !== null && this.pipe.pending > 0) this.pumpHeld(); // more pipelined requests: offer them now
      return;
    }
    const b = this.buf === null ? data : Buffer.concat([this.buf, data]);
    if (b.length > MAX_BUFFERED) this.pauseReading();
    this.process(b, this.buf !== null);
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
        this.buf = FrontConn.rest(b, start, owned);
        if (this.headSince === 0) this.headSince = Date.now();
      }
      this.resumeReading(); // the rest of the head is needed
      return;
    }
    this.headSince = 0;
    if (this.revoked()) { this.socket.terminate(); return; }
    if (end - start > MAX_HEAD_BYTES) return this.reject(431, "Request Header Fields Too Large", "HOST_ERR_HEADERS_TOO_LARGE", `the request head exceeds ${MAX_HEAD_BYTES} bytes`);
    let head: RequestHead;
    try {
      head = parseRequestHead(b, start, end);
    } catch (err) {
      if (err instanceof MalformedHead) return this.reject(400, "Bad Request", "HOST_ERR_BAD_REQUEST", err.message, requestIdInRawHead(b, start, end));
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

    // More requests follow this one in hand and the handler takes pipelined ones: offer them all now.
    if (wire !== undefined && wire.pipelines === true && whole && bodyEnd < b.length && head.keepAlive && !slot.closing && this.pipeFrom(b, start, owned, head)) return;
    // A streaming handler (wire.ts) also takes bodies still to come, and Expect: 100-continue.
    const streams = wire !== undefined && wire.streamsBodies === true;
    const offer = !head.special || (head.upgrade !== null && !head.expect && !head.chunked && head.contentLength <= 0) || (streams && expectsContinueOnly(head));
    if (wire !== undefined && !slot.closing && (head.minor === 1 || wire.takesHttp10 === true) && offer && (whole || head.framing !== undefined || streams) && !isHostPath(head.target)) {
      const req: WireRequest = head;
      req.body = head.contentLength > 0 && whole ? b.subarray(bodyStart, bodyEnd) : null;
      req.clientIp = this.ip;
      this.upgradeTo = head.upgrade === null ? null : head.upgrade.toLowerCase();
      if (whole && bodyEnd < b.length && head.framing === undefined) this.buf = FrontConn.rest(b, bodyEnd, owned);
      else if (!whole && head.framing === undefined) this.oweBody(head.chunked, head.contentLength, head.expect && head.minor === 1, inHand > 0 ? FrontConn.rest(b, bodyStart, owned) : null);
      this.gen = gen;
      gen.inflight++;
      // The plugin handles the request inside its context (log lines carry its ids) until it answers.
      const ctx = (this.ctx = new WireRequestContext(head, this.o.log));
      let taken = false;
      try {
        taken = runInRequest(ctx, wire, req, this);
      } catch (err) {
        this.o.log.error("wire handler threw", { err, request_id: ctx.id(), trace_id: ctx.trace() });
        this.releaseGeneration();
        this.endContext(500);
        return this.reject(500, "Internal Server Error", "HOST_ERR_INTERNAL", HostErrors.specs.HOST_ERR_INTERNAL.message, head.headers.get("x-request-id"));
      }
      if (taken) return;
      this.disownBody();
      this.ctx = null;
      ctx.end();
      this.releaseGeneration();
      this.buf = null;
    }
    if (head.framing !== undefined) return this.reject(400, "Bad Request", "HOST_ERR_BAD_REQUEST", `request framing is ambiguous (${head.framing})`, head.headers.get("x-request-id"));

    // The slow lane: the inner Bun.serve answers (the plugin's fetch handler, /health, /metrics...).
    if (!BUN_METHODS.has(head.method)) return this.reject(501, "Not Implemented", "HOST_ERR_METHOD_NOT_IMPLEMENTED", `the method "${head.method.slice(0, 32)}" is not implemented (methods are case-sensitive)`, head.headers.get("x-request-id"));
    markTarget(head);
    this.openTunnel(this.o.tunnel.open(this, head, this.ip, this.peerId), head, b, owned);
  }

  // ---- the end of an exchange (WireClient / TunnelClient) ----------------------------------------

  done(keepAlive: boolean): void {
    if (!this.busy || this.discarding) return;
    this.busy = false;
    this.endContext(0);
    const tunnelled = this.exchange !== null;
    this.exchange = null;
    this.onDrain = null;
    this.onClose = null;
    this.releaseGeneration();
    const reuse = keepAlive && this.keepAlive && !this.o.slot.closing && !this.stopping;
    if (this.bodyFramer !== null) {
      // Answered before the body was read whole: read on past it (then the next request), or close.
      this.busy = true; // what is left of the body is never read as a request
      if (!reuse || tunnelled || !this.discardRest()) { this.disownBody(); this.buf = null; this.closeAfterFlush(); }
      return;
    }
    if (!reuse) { this.closeAfterFlush(); return; }
    this.ready();
  }

  protected ready(): void {
    this.busy = false;
    if (this.buf === null || this.buf.length <= RESUME_BELOW) this.resumeReading();
    if (this.buf === null) return;
    // A handler that answers synchronously calls done() from inside process(): take the next pipelined
    // request on a fresh stack, so a long pipeline cannot grow the stack one request at a time.
    if (this.processing) this.nextSoon();
    else this.next();
  }
  private nextSoon(): void { queueMicrotask(() => this.next()); } // its own method: ready() makes no closure scope per call

  protected next(): void {
    if (this.pipe !== null && this.pipe.pending > 0) { this.pumpHeld(); return; }
    const b = this.buf;
    if (b === null || this.busy || this.closed) return;
    // A client that pipelines without reading: answer the next request only once the last answer is flushed,
    // so what we hold for it stays bounded (its input is capped by MAX_BUFFERED).
    if (this.out !== null) { this.nextAfterFlush = true; return; }
    this.process(b, true);
  }

  // ---- pipelined requests (front-pipeline.ts; PipelineConn) -------------------------------------
  /** Offer the requests in `b` from `at` to the pipeline and keep what is left; false when it took none (the first was declined). */
  private pipeFrom(b: Buffer, at: number, owned: boolean, first?: RequestHead): boolean {
    const pipe = (this.pipe ??= new Pipeline(this, this.o));
    const stop = pipe.pump(b, at, first);
    if (stop === at && pipe.pending === 0) return false;
    this.buf = stop < b.length ? FrontConn.rest(b, stop, owned) : null;
    if (this.buf !== null && this.out !== null) this.nextAfterFlush = true; // the client is behind: go on once it reads
    pipe.flush();
    return true;
  }

  /** More of a pipeline arrived (or the client read its answers): offer what is held (hold() copied it: ours). */
  private pumpHeld(): void { if (this.buf !== null && !this.closed) this.pipeFrom(this.buf, 0, true); }

  get backpressured(): boolean { return this.out !== null; }
  revoked(): boolean { return this.peerSerial !== undefined && this.o.peers!.revokedNow(this.peerSerial); }

  /** Every pipelined request is answered: close, or go on with the next request the ordinary way. */
  pipelineSettled(close: boolean): void {
    if (this.closed) return;
    if (close || this.o.slot.closing || this.stopping) { this.busy = true; this.buf = null; this.closeAfterFlush(); return; }
    this.ready();
  }

  switchProtocols(peer: PipePeer, limits: PipeLimits = {}): void {
    this.endContext(101);
    this.releaseGeneration();
    this.onClose = null;
    this.headSince = 0;
    const early = this.buf;
    this.buf = null;
    this.startPipe(peer, limits, this.upgradeTo === "websocket", early);
  }

  /** WireClient.release: a long-lived answer (an event stream) goes on, no longer in flight, as a fetch-lane stream. */
  release(): void { this.endContext(200); this.releaseGeneration(); }

  end(): void {
    this.busy = true; // nothing more is read as HTTP
    this.closeAfterFlush();
  }

  abort(): void {
    this.pipe?.closeAll();
    this.endContext(0);
    this.busy = false;
    this.releaseGeneration();
    this.closed = true;
    this.socket.terminate();
  }

  /** The request no longer holds its generation (which may retire once none does), once. */
  private releaseGeneration(): void {
    const gen = this.gen;
    if (gen !== null) { this.gen = null; this.o.finish(gen); }
  }

  /** The wire-lane request is answered (or gone): its context ends; at debug, one line for it. */
  private endContext(status: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    this.ctx = null;
    ctx.close(this.o.log, status);
  }

  protected reject(status: number, reason: string, code: string, message: string, givenId: string | null = null): void {
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

  /** Idle (between requests, nothing buffered): safe to close now. */
  get idle(): boolean { return !this.busy && this.buf === null && this.raw === null; }

  onSocketClose(): void {
    this.pipe?.closeAll();
    this.endContext(0);
    if (this.closed && this.gen === null) return;
    this.closed = true;
    this.releaseGeneration();
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
