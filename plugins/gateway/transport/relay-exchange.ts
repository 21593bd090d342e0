/**
 * One attempt of the wire lane on a pooled upstream connection: write the request bytes, parse the
 * response head, and, once the proxy accepts it, relay the body verbatim to the client's socket
 * (Content-Length, chunked or until close; the framer says where it ends) with backpressure both
 * ways. The request body is whole (written with the head) or a RelayBody streamed after it. No
 * Response, Headers or stream objects are made.
 */
import { CRLFCRLF, MAX_RESPONSE_HEAD, parseResponseHead, responseHasNoBody, type ResponseHead } from "../../../src/lib/http1/head";
import { ResponseScan, keptHeadSize, scanResponseHead, scratchOf, writeKeptHead } from "../../../src/lib/http1/response-scan";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../../src/lib/http1/framer";
import type { PipeLimits, WireClient } from "../../../src/core/wire";
import { UpstreamError } from "./upstream-client";
import type { Conn, ConnectionPool, PoolExchange } from "./pool";
import { RelayBody, type BodyCarrier } from "./relay-body";
import { pipeClientToUpstream } from "./switched-pipe";

const enum Phase { Head, Relay, Pipe, Done }

/**
 * One scan shared by every exchange: a head is scanned and, if relayed, copied out within the same
 * onData call (onHead answers synchronously), so no exchange needs its own line table.
 */
const scan = new ResponseScan();
let scanOwner: RelayExchange | null = null;

/** Told once per attempt: the response status, or why there is none. Must answer (relay or discard) synchronously. */
export interface RelayListener {
  onHead(ex: RelayExchange, status: number, err: UpstreamError | undefined): void;
}

export class RelayExchange implements PoolExchange, BodyCarrier {
  conn: Conn | null = null;
  settled = false;
  private phase = Phase.Head;
  private partial: Buffer | null = null;
  /** The buffer holding the head, and the offset of the body bytes that came with it. */
  private rest: Buffer | null = null;
  private headAt = 0;
  private restAt = 0;
  private receivedAny = false;
  private readonly framer = new BodyFramer();
  private upstreamKeepAlive = true;
  private client: WireClient | null = null;
  private clientKeepAlive = false;
  /** The head timeout of this attempt; a streamed body stops its clock while the client's bytes are awaited. */
  readonly span: number;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly head: string | Uint8Array,
    private readonly body: Uint8Array | RelayBody | null,
    private readonly method: string,
    public deadline: number,
    /** When the attempt starts (epoch ms): the head timeout's span is measured from it. */
    now: number,
    readonly connectTimeoutMs: number,
    private readonly listener: RelayListener,
    /** The request asked to switch protocols (Upgrade): a 101 is expected, not refused. */
    private readonly upgrade = false,
    /** An HTTP/1.0 request: a chunked answer (which its client cannot read) is the upstream's fault. */
    private readonly http10 = false,
  ) {
    this.span = Math.max(0, deadline - now);
  }

  /** The response body is delimited by the connection closing (the client connection must close too). */
  get closeDelimited(): boolean { return this.framer.closeDelimited; }

  start(conn: Conn): void {
    this.receivedAny = false;
    const body = this.body;
    if (body instanceof RelayBody) {
      this.pool.writeRequest(conn, this.head, null);
      body.start(this, conn);
    } else {
      this.pool.writeRequest(conn, this.head, body);
    }
  }

  /** This attempt is over: its connection is handed back (to free or drop), a streamed body stops going to it. */
  private over(): Conn | null {
    this.phase = Phase.Done;
    if (this.body instanceof RelayBody) this.body.detach(this);
    const conn = this.conn;
    this.conn = null;
    return conn;
  }

  onData(conn: Conn, data: Buffer): void {
    this.receivedAny = true;
    if (this.phase === Phase.Relay) { this.relayBody(conn, data, 0); return; }
    if (this.phase === Phase.Pipe) { this.forward(conn, data); return; }
    if (this.phase !== Phase.Head) return;
    let buf = data;
    if (this.partial !== null) { buf = Buffer.concat([this.partial, data]); this.partial = null; }
    let at = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, at);
      if (end === -1) {
        if (buf.length - at > MAX_RESPONSE_HEAD) return this.broken(conn, "upstream response head too large");
        this.partial = Buffer.from(buf.subarray(at));
        return;
      }
      if (!scanResponseHead(buf, at, end, scan)) return this.broken(conn, "malformed upstream response head");
      const status = scan.status;
      if (status === 101) {
        if (!this.upgrade) return this.broken(conn, "upstream switched protocols unasked");
        return this.headReady(buf, at, end, status);
      }
      if (status < 200) { at = end + 4; continue; } // interim (100, 103): the final head follows
      if (responseHasNoBody(this.method, status)) this.framer.none();
      else if (scan.chunked) { if (this.http10) return this.broken(conn, "chunked answer to an HTTP/1.0 request"); this.framer.chunked(); }
      else if (scan.contentLength >= 0) this.framer.length(scan.contentLength);
      else this.framer.untilClose();
      this.upstreamKeepAlive = !scan.close && !this.framer.closeDelimited;
      return this.headReady(buf, at, end, status);
    }
  }

  /** The final head is buf[at, end): the listener answers now, while the shared scan still describes it. */
  private headReady(buf: Buffer, at: number, end: number, status: number): void {
    this.rest = buf;
    this.headAt = at;
    this.restAt = end + 4;
    this.settled = true;
    scanOwner = this;
    this.listener.onHead(this, status, undefined);
    scanOwner = null;
  }

  /** The upstream's head carries a Date field. */
  get hasDate(): boolean { return scan.hasDate; }

  /** Whether the head needs the string parser (odd Connection tokens): then relayHead() with parsed(). */
  get needsParse(): boolean { return scan.needsParse; }

  /** The head as strings, for response programs and unusual heads (call inside onHead). */
  parsed(): ResponseHead { return parseResponseHead(this.rest!, this.headAt, this.restAt - 4); }

  /**
   * Relay with the upstream's own field lines (hop-by-hop ones dropped, by the scan) plus `extra`
   * lines ("name: value\r\n"...). Call inside onHead.
   */
  relay(client: WireClient, extra: string, clientKeepAlive: boolean): void {
    if (scanOwner !== this) throw new Error("relay() must be called from onHead");
    const out = scratchOf(keptHeadSize(scan, extra) + 512);
    this.send(client, out, writeKeptHead(scan, this.rest!, extra, out), clientKeepAlive);
  }

  /** Relay with a head the caller wrote in full (response programs, unusual heads). Call inside onHead. */
  relayHead(client: WireClient, head: string, clientKeepAlive: boolean): void {
    const len = Buffer.byteLength(head, "latin1");
    const out = scratchOf(len + 512);
    out.write(head, 0, "latin1");
    this.send(client, out, len, clientKeepAlive);
  }

  /** `out[0, headLen)` is the head; the body follows (in the same write when it came whole). */
  private send(client: WireClient, out: Buffer, headLen: number, clientKeepAlive: boolean): void {
    const conn = this.conn!;
    this.phase = Phase.Relay;
    this.client = client;
    this.clientKeepAlive = clientKeepAlive && !this.framer.closeDelimited;
    const rest = this.rest!;
    this.rest = null;
    const at = this.restAt;
    if (this.framer.done) { client.write(out.subarray(0, headLen)); this.finish(conn, at === rest.length); return; }
    if (at < rest.length) {
      const end = this.framer.advance(rest, at, rest.length);
      if (end === FRAMER_ERROR) { this.over(); this.pool.destroy(conn); client.abort(); return; }
      if (end >= 0) {
        // The whole body came with the head (the common small response): one write to the client.
        const total = headLen + end - at;
        const whole = total <= out.length ? out : scratchOf(total);
        if (whole !== out) out.copy(whole, 0, 0, headLen);
        rest.copy(whole, headLen, at, end);
        client.write(whole.subarray(0, total));
        this.finish(conn, end === rest.length);
        return;
      }
    }
    // More body to come: a client leaving now drops the upstream connection (no closure for an answer relayed whole).
    this.watchClient(client);
    client.write(out.subarray(0, headLen));
    if (at < rest.length) this.forward(conn, at === 0 ? rest : rest.subarray(at));
  }

  /** A client leaving mid-body drops the upstream connection: its own method, so send()'s every call makes no closure scope. */
  private watchClient(client: WireClient): void { client.onClose = () => this.clientGone(); }

  /**
   * The upstream switched protocols (101): send the client `head`, then both connections become one
   * byte pipe with backpressure each way; the upstream connection never returns to the pool.
   */
  relaySwitch(client: WireClient, head: string, limits?: PipeLimits): void {
    if (scanOwner !== this) throw new Error("relaySwitch() must be called from onHead");
    const conn = this.conn!;
    const rest = this.rest!;
    this.rest = null;
    this.phase = Phase.Pipe;
    this.client = client;
    client.write(Buffer.from(head, "latin1"));
    pipeClientToUpstream(this.pool, conn, client, limits, () => { if (this.phase === Phase.Pipe) { this.over(); this.pool.destroy(conn); } });
    // After the switch: the front counts the new protocol's bytes from here (frame boundaries for a clean close).
    if (this.restAt < rest.length) this.forward(conn, rest.subarray(this.restAt));
  }

  /**
   * The client left before the head: drop the attempt (the connection is mid-request and cannot be
   * reused; one still opening is kept by the pool). True when it was still waiting, false once settled.
   */
  abandon(): boolean {
    if (this.settled) return false;
    this.settled = true;
    const conn = this.over();
    if (conn !== null) this.pool.destroy(conn);
    return true;
  }

  /** Not relaying this response (a retry follows): free or drop the connection. */
  discard(): void {
    const sent = this.requestSent();
    const conn = this.over();
    if (conn === null) return;
    const rest = this.rest;
    this.rest = null;
    let reusable = false;
    if (rest !== null && this.upstreamKeepAlive && sent) {
      const end = this.framer.advance(rest, this.restAt, rest.length);
      reusable = end === rest.length;
    }
    if (reusable) this.pool.complete(conn, true);
    else this.pool.destroy(conn);
  }

  private relayBody(conn: Conn, buf: Buffer, at: number): void {
    const client = this.client!;
    const end = this.framer.advance(buf, at, buf.length);
    if (end === FRAMER_ERROR) { this.over(); this.pool.destroy(conn); client.abort(); return; }
    if (end !== FRAMER_MORE) { client.write(buf.subarray(at, end)); this.finish(conn, end === buf.length); return; }
    this.forward(conn, at === 0 ? buf : buf.subarray(at));
  }

  /** Body bytes with more to come: pause the upstream while the client is behind. */
  private forward(conn: Conn, bytes: Uint8Array): void {
    const client = this.client!;
    if (!client.write(bytes) && !conn.paused) {
      conn.paused = true;
      conn.socket?.pause();
      client.onDrain = () => { if (conn.paused && !conn.closed) { conn.paused = false; conn.socket?.resume(); } };
    }
  }

  /** `clean`: nothing followed the body (extra bytes would mean the upstream cannot be trusted for reuse). */
  private finish(conn: Conn, clean: boolean): void {
    // Answered before the whole request body went out (an early 413...): the connection is mid-request.
    const sent = this.requestSent();
    this.over();
    this.pool.complete(conn, this.upstreamKeepAlive && clean && sent);
    const client = this.client!;
    client.onClose = null;
    client.done(this.clientKeepAlive);
  }

  /** The whole request went out on this attempt's connection. */
  private requestSent(): boolean { return !(this.body instanceof RelayBody) || this.body.sentOn(this); }

  private clientGone(): void {
    if (this.phase !== Phase.Relay) return;
    const conn = this.over();
    if (conn !== null) this.pool.destroy(conn);
  }

  private broken(conn: Conn, why: string): void { this.pool.destroy(conn); this.fail(new UpstreamError("other", why)); }

  onClose(conn: Conn, retry: () => void): void {
    // The upstream ended the switched-protocol stream: end the client's side once flushed.
    if (this.phase === Phase.Pipe) { this.over(); this.client!.end(); return; }
    if (this.phase === Phase.Relay) {
      this.over();
      const client = this.client!;
      client.onClose = null;
      if (this.framer.closeDelimited) client.done(false);
      else client.abort(); // the body was cut short: the client must see the connection drop, not a complete response
      return;
    }
    if (this.phase !== Phase.Head || this.settled) return;
    // A stale keep-alive connection: sent again when nothing came back and the body can be sent again.
    if (!this.receivedAny && conn.served > 0 && (this.body === null || (this.body instanceof RelayBody && this.body.replayable))) { retry(); return; }
    this.fail(new UpstreamError("reset", "upstream closed the connection"));
  }

  fail(err: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    this.over(); // the pool drops the connection (deadline) or has lost it already
    this.listener.onHead(this, 0, err);
  }
}
