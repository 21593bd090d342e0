/**
 * The request-body side of a front connection: a body that did not arrive whole with its head, streamed
 * either through the tunnel (its framing verbatim, trailer fields dropped) or to a streaming wire
 * handler's sink (framing removed, one run of data per read however small the chunks), with backpressure;
 * the interim 100 Continue, sent only when the handler asks for the body; and a body left unread by an
 * early answer, read and thrown away so the connection can carry on. FrontConn extends it.
 */
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../lib/http1/framer";
import type { WireBodySink } from "../../core/wire";
import type { RequestHead } from "../../lib/http1/head";
import type { Exchange } from "./tunnel";
import { FrontSocket } from "./front-socket";

/** An unread body past this is not worth reading to keep the connection: close it instead (nginx discards unbounded, within a timeout). */
const DISCARD_MAX = 1024 * 1024;
const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";

export abstract class FrontBody extends FrontSocket {
  /** Where the request body still being received ends (null: none pending). */
  protected bodyFramer: BodyFramer | null = null;
  /** The tunnelled exchange the body goes to (slow lane). */
  protected exchange: Exchange | null = null;
  protected keepAlive = true;
  /** The wire handler's sink, once it asked for the body; while null with `bodyOwed`, body bytes wait in `buf`. */
  private sink: WireBodySink | null = null;
  private bodyOwed = false;
  /** Expect: 100-continue and no body byte seen yet: readBody() sends the 100. */
  private expectContinue = false;
  /** Bytes of an unread body thrown away after the answer (-1: not discarding). */
  private discarded = -1;

  protected abstract reject(status: number, reason: string, code: string, message: string): void;
  /** The exchange is over and the connection may take the next request. */
  protected abstract ready(): void;

  /** Bytes that arrived while a body is pending. */
  protected bodyIn(data: Buffer): void {
    if (this.exchange !== null) this.toTunnel(data, 0);
    else if (this.sink !== null) this.toSink(data, 0, false);
    else if (this.discarded >= 0) this.discard(data, 0, false);
    else this.hold(data); // owed to a handler that has not asked yet
  }

  // ---- the wire handler's streamed body ----------------------------------------------------------

  /** A streaming handler is offered a request whose body follows: hold `rest` (body bytes in hand) until readBody. */
  protected oweBody(chunked: boolean, length: number, expect: boolean, rest: Buffer | null): void {
    this.bodyFramer = chunked ? new BodyFramer().chunked() : new BodyFramer().length(length);
    this.bodyOwed = true;
    this.expectContinue = expect && rest === null;
    this.buf = rest;
    this.pauseReading(); // nothing more until the handler wants it
  }

  /** The handler declined: the body is the tunnel's after all. */
  protected disownBody(): void {
    this.bodyFramer = null;
    this.bodyOwed = false;
    this.expectContinue = false;
    this.sink = null;
  }

  readBody(sink: WireBodySink): void {
    if (!this.bodyOwed || this.sink !== null || this.closed) return;
    this.sink = sink;
    if (this.expectContinue) { this.expectContinue = false; this.writeRaw(CONTINUE); }
    const held = this.buf;
    this.buf = null;
    if (held !== null) this.toSink(held, 0, true);
    else this.resumeReading();
  }

  /** Body bytes to the sink; what follows the body is the next request. */
  private toSink(b: Buffer, at: number, owned: boolean): void {
    const framer = this.bodyFramer!;
    const sink = this.sink!;
    let first: Buffer | null = null;
    let runs: Buffer[] | null = null;
    const end = framer.advance(b, at, b.length, (from, to) => {
      const run = b.subarray(from, to);
      if (first === null) first = run;
      else (runs ??= [first]).push(run);
    });
    if (end === FRAMER_ERROR) {
      this.bodyEnded();
      this.keepAlive = false;
      this.buf = null;
      this.pauseReading(); // the rest cannot be framed: read nothing more
      sink.fail(`malformed chunked body: ${framer.error}`);
      return;
    }
    // Many small chunks in one read go on as one run (one upstream chunk, not one per client chunk).
    const data: Buffer | null = runs !== null ? Buffer.concat(runs) : first;
    const ok = data === null || sink.data(data);
    if (this.sink !== sink) { // answered meanwhile (413...): the rest is being discarded, or the connection closes
      if (this.discarded >= 0 && end !== FRAMER_MORE) this.discardDone(b, end, owned);
      return;
    }
    if (end === FRAMER_MORE) {
      if (ok) this.resumeReading(); else this.pauseReading();
      return;
    }
    this.bodyEnded();
    if (end < b.length) { if (owned && this.buf === null) this.buf = b.subarray(end); else this.hold(b.subarray(end)); }
    sink.end();
  }

  private bodyEnded(): void {
    this.bodyFramer = null;
    this.bodyOwed = false;
    this.sink = null;
  }

  /**
   * Answered before its body was read whole: read the rest and throw it away, then take the next
   * request (true), or give up on the connection (false: the caller closes it). A client never sent its
   * 100 may not send the body at all, so nothing can be read safely: closed.
   */
  protected discardRest(): boolean {
    if (this.expectContinue || this.bodyFramer === null) return false;
    this.sink = null;
    this.bodyOwed = false;
    this.discarded = 0;
    const held = this.buf;
    this.buf = null;
    if (held !== null) this.discard(held, 0, true);
    else this.resumeReading();
    return true;
  }

  private discard(b: Buffer, at: number, owned: boolean): void {
    const end = this.bodyFramer!.advance(b, at, b.length);
    this.discarded += (end < 0 ? b.length : end) - at;
    if (end === FRAMER_ERROR || (end === FRAMER_MORE && this.discarded > DISCARD_MAX)) {
      this.discarded = -1;
      this.bodyFramer = null;
      this.end();
      return;
    }
    if (end === FRAMER_MORE) { this.resumeReading(); return; }
    this.discardDone(b, end, owned);
  }

  private discardDone(b: Buffer, end: number, owned: boolean): void {
    this.discarded = -1;
    this.bodyFramer = null;
    if (end < b.length) { if (owned && this.buf === null) this.buf = b.subarray(end); else this.hold(b.subarray(end)); }
    this.ready();
  }

  // ---- the tunnel's streamed body ----------------------------------------------------------------

  /** The slow lane's body: its bytes (this read's from `at`) into the tunnel as they come. */
  /** The slow lane: the request (head parsed at `b`) goes through the tunnel exchange `ex`, its body after it. */
  protected openTunnel(ex: Exchange, head: RequestHead, b: Buffer, owned: boolean): void {
    this.exchange = ex;
    if (head.chunked || head.contentLength > 0) { this.tunnelBody(head.chunked, head.contentLength, b, head.bodyStart, owned); return; }
    ex.requestComplete();
    if (head.bodyStart < b.length) this.buf = FrontSocket.rest(b, head.bodyStart, owned);
  }

  protected tunnelBody(chunked: boolean, length: number, b: Buffer, at: number, owned: boolean): void {
    this.bodyFramer = chunked ? new BodyFramer().chunked() : new BodyFramer().length(length);
    if (at < b.length) this.toTunnel(b, at, owned); // the rest follows in later reads
    else this.resumeReading();
  }

  /**
   * Request body bytes toward the tunnel; whatever follows the body is the next request. Chunked
   * trailer fields are dropped (RFC 9110 §6.5.1 lets a proxy discard them; Bun.serve refuses them).
   */
  private toTunnel(b: Buffer, at: number, owned = false): void {
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

  /** An unread body is being thrown away (the exchange is over). */
  protected get discarding(): boolean { return this.discarded >= 0; }

  /** A request body is still expected from the client and we are not the ones holding it back. */
  get awaitingBody(): boolean { return this.bodyFramer !== null && !this.readPaused && (this.sink !== null || this.exchange !== null || this.discarded >= 0); }
}
