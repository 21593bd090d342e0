/**
 * One attempt of the wire lane on a pooled upstream connection: write the request bytes, parse the
 * response head, and, once the proxy accepts it, relay the body verbatim to the client's socket
 * (Content-Length, chunked or until close; the framer says where it ends) with backpressure both
 * ways. No Response, Headers or stream objects are made.
 */
import { CRLFCRLF, MalformedHead, parseResponseHead, responseHasNoBody, type ResponseHead } from "../../src/core/http1/head";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../src/core/http1/framer";
import type { WireClient } from "../../src/core/wire";
import { UpstreamError } from "./upstream-client";
import type { Conn, ConnectionPool, PoolExchange } from "./upstream-pool";

const MAX_HEAD = 64 * 1024;

const enum Phase { Head, Relay, Done }

/** Told once per attempt: the response head, or why there is none. */
export interface RelayListener {
  onHead(ex: RelayExchange, head: ResponseHead | undefined, err: UpstreamError | undefined): void;
}

export class RelayExchange implements PoolExchange {
  conn: Conn | null = null;
  settled = false;
  private phase = Phase.Head;
  private partial: Buffer | null = null;
  /** Bytes that came after the head, held until relay() (the proxy may still retry instead). */
  private rest: Buffer | null = null;
  private restAt = 0;
  private receivedAny = false;
  private readonly framer = new BodyFramer();
  private upstreamKeepAlive = true;
  private client: WireClient | null = null;
  private clientKeepAlive = false;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly head: string,
    private readonly body: Uint8Array | null,
    private readonly method: string,
    readonly deadline: number,
    readonly connectTimeoutMs: number,
    private readonly listener: RelayListener,
  ) {}

  /** The response body is delimited by the connection closing (the client connection must close too). */
  get closeDelimited(): boolean { return this.framer.closeDelimited; }

  start(conn: Conn): void {
    this.receivedAny = false;
    this.pool.writeAll(conn, this.head);
    if (this.body !== null) this.pool.writeAll(conn, this.body);
  }

  onData(conn: Conn, data: Buffer): void {
    this.receivedAny = true;
    if (this.phase === Phase.Relay) { this.relayBody(conn, data, 0); return; }
    if (this.phase !== Phase.Head) return;
    let buf = data;
    if (this.partial !== null) { buf = Buffer.concat([this.partial, data]); this.partial = null; }
    let at = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, at);
      if (end === -1) {
        if (buf.length - at > MAX_HEAD) return this.broken(conn, "upstream response head too large");
        this.partial = Buffer.from(buf.subarray(at));
        return;
      }
      let res: ResponseHead;
      try { res = parseResponseHead(buf, at, end); } catch (err) {
        if (err instanceof MalformedHead) return this.broken(conn, err.message);
        throw err;
      }
      at = end + 4;
      if (res.status < 200) {
        if (res.status === 101) return this.broken(conn, "upstream switched protocols unasked");
        continue; // interim (100, 103): the final head follows
      }
      if (responseHasNoBody(this.method, res.status)) this.framer.none();
      else if (res.chunked) this.framer.chunked();
      else if (res.contentLength >= 0) this.framer.length(res.contentLength);
      else this.framer.untilClose();
      this.upstreamKeepAlive = !res.close && !this.framer.closeDelimited;
      this.rest = buf;
      this.restAt = at;
      this.settled = true;
      this.listener.onHead(this, res, undefined);
      return;
    }
  }

  /**
   * Send the response to the client: `head` (already rewritten by the proxy), then the body as it
   * comes. The client is told done() when the body ends.
   */
  relay(client: WireClient, head: string, clientKeepAlive: boolean): void {
    const conn = this.conn!;
    this.phase = Phase.Relay;
    this.client = client;
    this.clientKeepAlive = clientKeepAlive && !this.framer.closeDelimited;
    client.onClose = () => this.clientGone();
    const rest = this.rest!;
    this.rest = null;
    const at = this.restAt;
    if (this.framer.done) { client.write(head); this.finish(conn, at === rest.length); return; }
    if (at < rest.length) {
      const end = this.framer.advance(rest, at, rest.length);
      if (end >= 0) {
        // The whole body came with the head (the common small response): one write to the client.
        const headLen = Buffer.byteLength(head, "latin1");
        const out = Buffer.allocUnsafe(headLen + end - at);
        out.write(head, 0, "latin1");
        rest.copy(out, headLen, at, end);
        client.write(out);
        this.finish(conn, end === rest.length);
        return;
      }
      if (end === FRAMER_ERROR) { this.phase = Phase.Done; this.pool.destroy(conn); client.abort(); return; }
      client.write(head);
      this.forward(conn, at === 0 ? rest : rest.subarray(at));
      return;
    }
    client.write(head);
  }

  /** Not relaying this response (a retry follows): free or drop the connection. */
  discard(): void {
    const conn = this.conn;
    this.phase = Phase.Done;
    if (conn === null) return;
    this.conn = null;
    const rest = this.rest;
    this.rest = null;
    let reusable = false;
    if (rest !== null && this.upstreamKeepAlive) {
      const end = this.framer.advance(rest, this.restAt, rest.length);
      reusable = end === rest.length;
    }
    if (reusable) this.pool.complete(conn, true);
    else this.pool.destroy(conn);
  }

  private relayBody(conn: Conn, buf: Buffer, at: number): void {
    const client = this.client!;
    const end = this.framer.advance(buf, at, buf.length);
    if (end === FRAMER_ERROR) { this.phase = Phase.Done; this.pool.destroy(conn); client.abort(); return; }
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
    this.phase = Phase.Done;
    this.conn = null;
    this.pool.complete(conn, this.upstreamKeepAlive && clean);
    const client = this.client!;
    client.onClose = null;
    client.done(this.clientKeepAlive);
  }

  private clientGone(): void {
    if (this.phase !== Phase.Relay) return;
    this.phase = Phase.Done;
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) this.pool.destroy(conn);
  }

  private broken(conn: Conn, why: string): void {
    this.pool.destroy(conn);
    this.fail(new UpstreamError("other", why));
  }

  onClose(conn: Conn, retry: () => void): void {
    if (this.phase === Phase.Relay) {
      this.phase = Phase.Done;
      this.conn = null;
      const client = this.client!;
      client.onClose = null;
      if (this.framer.closeDelimited) client.done(false);
      else client.abort(); // the body was cut short: the client must see the connection drop, not a complete response
      return;
    }
    if (this.phase !== Phase.Head || this.settled) return;
    if (!this.receivedAny && conn.served > 0 && this.body === null) { retry(); return; } // a stale keep-alive connection
    this.fail(new UpstreamError("reset", "upstream closed the connection"));
  }

  fail(err: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    this.phase = Phase.Done; // the pool drops the connection (deadline) or has lost it already
    this.listener.onHead(this, undefined, err);
  }
}
