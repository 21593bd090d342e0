/**
 * The slow lane of a wire port: requests the plugin's fast path declines are relayed, verbatim apart
 * from one added field carrying the TCP peer's address, to an in-process Bun.serve on a private unix
 * socket, which runs the plugin's ordinary fetch handler. Responses come back verbatim; the framer
 * tells where each ends, so the client connection can go on to its next request.
 */
import type { Socket } from "bun";
import { CRLFCRLF, MalformedHead, parseResponseHead, responseHasNoBody, type RequestHead } from "../../lib/http1/head";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../../lib/http1/framer";

/** The field the front adds (and strips from clients) to tell the inner server who the peer is. */
export const PEER_FIELD = "x-tradpal-peer";
/** The same for the SPIFFE ID of the peer's TLS client certificate (platform mTLS; src/host/tls-peers.ts). */
export const PEER_ID_FIELD = "x-tradpal-peer-spiffe";
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * Requests relayed through a tunnel in this process (each one parsed twice: by the front, then by
 * Bun.serve): the host's `wire_tunnel_requests_total`. Cheap enough to keep always.
 */
export const tunnelStats = { requests: 0 };
const MAX_IDLE = 64;

/** What a tunnelled exchange needs from the client side (the front's connection). */
export interface TunnelClient {
  write(data: string | Uint8Array): boolean;
  onDrain: (() => void) | null;
  /** Resume reading the request body (after the tunnel's backpressure). */
  resumeReading(): void;
  /** The response is complete. */
  done(keepAlive: boolean): void;
  /** Give up on the connection (the inner server broke the exchange). */
  abort(): void;
}

const enum Phase { Head, Body, Pipe, Done }

class TunnelConn {
  socket: Socket<TunnelConn> | null = null;
  closed = false;
  ex: Exchange | null = null;
  /** Reading paused because the client was full. */
  paused = false;
  constructor(readonly tunnel: Tunnel) {}

  pause(): void { if (!this.paused && this.socket) { this.paused = true; this.socket.pause(); } }
  resume(): void { if (this.paused && !this.closed && this.socket) { this.paused = false; this.socket.resume(); } }
}

/** One request/response relayed through the tunnel; also the sink the front writes the request body to. */
export class Exchange {
  conn: TunnelConn | null = null;
  private queued: (string | Uint8Array)[] | null = [];
  private head: Buffer | null = null;
  private readonly framer = new BodyFramer();
  phase = Phase.Head;
  private responseClose = false;
  private requestSent = false;
  private readingPaused = false;

  constructor(readonly client: TunnelClient, readonly method: string, private readonly keepAlive: boolean) {}

  /** Request bytes toward the inner server; false → the front pauses reading until resumeReading. */
  write(data: string | Uint8Array): boolean {
    if (this.phase === Phase.Done) return true;
    if (this.queued !== null) { this.queued.push(data); return true; }
    const s = this.conn!.socket!;
    const len = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    const n = s.write(data);
    if (n >= len) return true;
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    this.queued = [bytes.subarray(Math.max(0, n))];
    this.readingPaused = true;
    return false;
  }

  /** The request (head and body) has been handed over completely. */
  requestComplete(): void { this.requestSent = true; }

  attach(conn: TunnelConn): void {
    this.conn = conn;
    conn.ex = this;
    const q = this.queued!;
    this.queued = null;
    for (let i = 0; i < q.length; i++) if (!this.write(q[i])) { this.queued!.push(...q.slice(i + 1)); break; }
  }

  /** Inner socket writable again: flush what waits, then let the client send more body. */
  flush(): void {
    const q = this.queued;
    if (q === null || this.conn === null) return;
    this.queued = null;
    for (let i = 0; i < q.length; i++) if (!this.write(q[i])) { this.queued!.push(...q.slice(i + 1)); return; }
    if (this.readingPaused) { this.readingPaused = false; this.client.resumeReading(); }
  }

  onData(data: Buffer): void {
    if (this.phase === Phase.Pipe) { this.relay(data); return; }
    let buf = data;
    let at = 0;
    while (this.phase === Phase.Head) {
      if (this.head !== null) { buf = Buffer.concat([this.head, buf]); this.head = null; }
      const end = buf.indexOf(CRLFCRLF, at);
      if (end === -1) {
        if (buf.length > MAX_RESPONSE_HEAD) { this.fail(); return; }
        this.head = Buffer.from(buf.subarray(at));
        return;
      }
      let res;
      try { res = parseResponseHead(buf, at, end); } catch (err) { if (err instanceof MalformedHead) { this.fail(); return; } throw err; }
      const headEnd = end + 4;
      if (res.status === 101) {
        this.phase = Phase.Pipe;
        this.relay(buf.subarray(at));
        return;
      }
      if (res.status < 200) { this.relay(buf.subarray(at, headEnd)); at = headEnd; continue; }
      this.responseClose = res.close;
      if (responseHasNoBody(this.method, res.status)) this.framer.none();
      else if (res.chunked) this.framer.chunked();
      else if (res.contentLength >= 0) this.framer.length(res.contentLength);
      else this.framer.untilClose();
      this.phase = Phase.Body;
      if (this.framer.done) { this.relay(buf.subarray(at, headEnd)); this.finish(); return; }
      this.relay(buf.subarray(at, headEnd));
      at = headEnd;
    }
    if (this.phase !== Phase.Body || at >= buf.length) return;
    const end = this.framer.advance(buf, at, buf.length);
    if (end === FRAMER_ERROR) { this.fail(); return; }
    if (end === FRAMER_MORE) { this.relay(at === 0 ? buf : buf.subarray(at)); return; }
    this.relay(buf.subarray(at, end));
    this.finish();
  }

  private relay(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    if (!this.client.write(bytes)) {
      const conn = this.conn;
      if (conn) {
        conn.pause();
        this.client.onDrain = () => { this.client.onDrain = null; conn.resume(); };
      }
    }
  }

  private finish(): void {
    this.phase = Phase.Done;
    const conn = this.conn!;
    conn.ex = null;
    this.conn = null;
    const reusable = !this.responseClose && this.requestSent && !conn.closed;
    if (reusable) conn.tunnel.release(conn);
    else conn.tunnel.destroy(conn);
    this.client.done(this.keepAlive && !this.responseClose);
  }

  /** The inner server broke the exchange: drop both sides. */
  fail(): void {
    if (this.phase === Phase.Done) return;
    this.cancel();
    this.client.abort();
  }

  /** The inner connection closed. */
  onClose(): void {
    if (this.phase === Phase.Body && this.framer.closeDelimited) { this.phase = Phase.Done; this.conn = null; this.client.done(false); return; }
    if (this.phase === Phase.Pipe) { this.phase = Phase.Done; this.conn = null; this.client.done(false); return; }
    this.fail();
  }

  /** The client went away: the inner connection is mid-message and cannot be reused. */
  cancel(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    const conn = this.conn;
    this.conn = null;
    if (conn) { conn.ex = null; conn.tunnel.destroy(conn); }
  }
}

export class Tunnel {
  private readonly idle: TunnelConn[] = [];
  private stopped = false;
  private readonly handlers = {
    binaryType: "buffer" as const,
    data: (s: Socket<TunnelConn>, d: Buffer) => { const ex = s.data.ex; if (ex) ex.onData(d); else this.destroy(s.data); },
    drain: (s: Socket<TunnelConn>) => { s.data.ex?.flush(); },
    close: (s: Socket<TunnelConn>) => this.closed(s.data),
    error: (s: Socket<TunnelConn>) => this.closed(s.data),
  };

  constructor(readonly unixPath: string) {}

  /**
   * Start relaying one request. The head is rewritten with the peer field; body bytes follow
   * through the returned exchange's write().
   */
  open(client: TunnelClient, head: RequestHead, clientIp: string, peerId?: string): Exchange {
    tunnelStats.requests++;
    const ex = new Exchange(client, head.method, head.keepAlive);
    let out = head.method + " " + head.target + (head.minor === 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n") + PEER_FIELD + ": " + clientIp + "\r\n";
    if (peerId !== undefined) out += PEER_ID_FIELD + ": " + peerId + "\r\n";
    const p = head.headers.pairs;
    for (let i = 0; i < p.length; i += 2) if (p[i] !== PEER_FIELD && p[i] !== PEER_ID_FIELD) out += p[i] + ": " + p[i + 1] + "\r\n";
    ex.write(Buffer.from(out + "\r\n", "latin1"));
    let conn = this.idle.pop();
    while (conn !== undefined && conn.closed) conn = this.idle.pop();
    if (conn !== undefined) ex.attach(conn);
    else void this.connect(ex);
    return ex;
  }

  private async connect(ex: Exchange): Promise<void> {
    const conn = new TunnelConn(this);
    try {
      conn.socket = await Bun.connect<TunnelConn>({ unix: this.unixPath, data: conn, socket: this.handlers });
    } catch {
      ex.fail();
      return;
    }
    if (ex.phase === Phase.Done) { this.release(conn); return; }
    ex.attach(conn);
  }

  release(conn: TunnelConn): void {
    if (this.stopped || this.idle.length >= MAX_IDLE) { this.destroy(conn); return; }
    // The last bytes may have met a full client: the exchange ended before its drain, which nobody
    // will now deliver. A pooled connection left paused never reads the next response (a port stall).
    conn.resume();
    this.idle.push(conn);
  }

  destroy(conn: TunnelConn): void {
    conn.closed = true;
    conn.socket?.terminate();
  }

  private closed(conn: TunnelConn): void {
    conn.closed = true;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    const ex = conn.ex;
    conn.ex = null;
    if (ex) ex.onClose();
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.idle.splice(0)) this.destroy(c);
  }
}
