/**
 * Keep-alive HTTP/1.1 connections to plain-HTTP instances on Bun.connect, shared by the two ways the
 * gateway speaks to an upstream: the pooled client (a Response for the fetch path) and the wire relay
 * (bytes straight to the client's socket). The pool owns connecting (with a timeout), the idle lists,
 * write buffering with drain, and one timer for every response-head deadline; what a connection's
 * bytes mean belongs to the exchange currently on it.
 */
import type { Socket } from "bun";
import { UpstreamError } from "./upstream-client";
import { outsideRequest } from "../../../src/core/request-context";
import { holdRead, inTurn, releaseRead, type HeldReads } from "../../../src/lib/turn-queue";

const MAX_IDLE_PER_INSTANCE = 256;
/** A request body up to this size goes out in the same write as its head (one syscall, not two). */
const ONE_WRITE_MAX = 64 * 1024;
const SWEEP_MS = 25;

export interface Pool {
  hostname: string;
  port: number;
  /** TLS options for https instances (Bun.connect's `tls`), or null for plain HTTP. */
  tls: object | true | null;
  /** Host header value for this instance (host[:port]). */
  hostHeader: string;
  idle: Conn[];
}

export interface Conn extends HeldReads {
  socket: Socket<Conn> | null;
  pool: Pool;
  ex: PoolExchange | null;
  /** Responses completed on this connection (0: fresh). */
  served: number;
  closed: boolean;
  pending: Uint8Array | null;
  onDrain: (() => void) | null;
  /** Reading paused because whoever takes the response body is behind (backpressure). */
  paused: boolean;
  /** TLS only: told the handshake's outcome (a connection is usable only after it). */
  onHandshake: ((ok: boolean, why: string) => void) | null;
}

/** One request/response on a pooled connection. */
export interface PoolExchange {
  conn: Conn | null;
  /** The response head arrived or the exchange failed: its deadline no longer applies. */
  settled: boolean;
  /** Epoch-ms deadline for the response head. */
  readonly deadline: number;
  readonly connectTimeoutMs: number;
  /** Write the request on `conn` (the pool has set conn.ex and ex.conn). */
  start(conn: Conn): void;
  onData(conn: Conn, data: Buffer): void;
  /** The connection closed while this exchange was on it; `retry` resends on a fresh connection. */
  onClose(conn: Conn, retry: () => void): void;
  /** Connecting failed or the deadline passed. */
  fail(err: UpstreamError): void;
}

const encoder = new TextEncoder();

export class ConnectionPool {
  private readonly pools = new Map<string, Pool>();
  /** Every open connection; the sweeper checks the exchange on each (no per-request bookkeeping). */
  private readonly conns = new Set<Conn>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  closed = false;
  private readonly bytes = (conn: Conn, d: Buffer): void => {
    const ex = conn.ex;
    if (ex === null) { this.destroy(conn); return; } // bytes on an idle connection: not a valid HTTP/1.1 peer
    ex.onData(conn, d);
  };
  private readonly heldBytes = (conn: Conn, d: Buffer): void => {
    try { this.bytes(conn, d); } finally { if (releaseRead(conn) && !conn.paused && !conn.closed) conn.socket?.resume(); }
  };
  private readonly writable = (s: Socket<Conn>): void => {
    const conn = s.data;
    if (conn.pending) {
      const p = conn.pending;
      conn.pending = null;
      const w = s.write(p);
      if (w < p.byteLength) { conn.pending = p.subarray(Math.max(0, w)); return; }
    }
    if (conn.onDrain) { const d = conn.onDrain; conn.onDrain = null; d(); }
  };
  private readonly gone = (conn: Conn): void => this.onClose(conn);
  private readonly goneSocket = (s: Socket<Conn>): void => this.onClose(s.data);
  // Response heads, drains and closes are handled at the end of the event-loop turn with the front's, in
  // the order they came (src/lib/turn-queue.ts): a response's last bytes before its connection's close.
  private readonly handlers = {
    binaryType: "buffer" as const,
    // A handler that throws goes the way of an error on the socket (Bun's own rule for its handlers).
    // A response head waits for the end of the turn; the bytes of a body under way go on at once,
    // unless a read of this connection still waits.
    data: (s: Socket<Conn>, d: Buffer) => {
      const conn = s.data;
      if (conn.heldReads === 0 && conn.ex !== null && conn.ex.settled) { this.bytes(conn, d); return; }
      if (holdRead(conn)) s.pause();
      inTurn(this.heldBytes, conn, d, this.gone);
    },
    drain: (s: Socket<Conn>) => inTurn(this.writable, s, undefined, this.goneSocket),
    close: (s: Socket<Conn>) => inTurn(this.gone, s.data, undefined, this.gone),
    error: (s: Socket<Conn>) => inTurn(this.gone, s.data, undefined, this.gone),
    handshake: (s: Socket<Conn>, ok: boolean, err: Error | null) => {
      const h = s.data.onHandshake;
      s.data.onHandshake = null;
      h?.(ok, ok ? "" : String((err as { code?: string } | null)?.code ?? err?.message ?? "TLS handshake failed"));
    },
  };
  /** Identity of each TLS options object (stable between certificate rotations), for pool keys. */
  private readonly tlsIds = new WeakMap<object, number>();
  private tlsSeq = 0;

  constructor() {
    // One timer for every deadline: an exchange still waiting for its head past its deadline fails.
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const conn of this.conns) {
        const ex = conn.ex;
        if (ex === null || ex.settled || now < ex.deadline) continue;
        ex.fail(new UpstreamError("timeout", "upstream did not answer before the deadline"));
        this.destroy(conn);
      }
    }, SWEEP_MS);
    (this.sweeper as unknown as { unref?: () => void }).unref?.();
  }

  /**
   * The pool of one instance. An https base needs `tls` (the options, or true for the default trust
   * store); rotated TLS options are a new object, so connections made with the old ones are not reused.
   */
  poolFor(base: string, tls?: object | true): Pool {
    let key = base;
    if (tls !== undefined && tls !== true) {
      let id = this.tlsIds.get(tls);
      if (id === undefined) this.tlsIds.set(tls, (id = ++this.tlsSeq));
      key = base + "#" + id;
    }
    let p = this.pools.get(key);
    if (!p) {
      const u = new URL(base);
      const https = u.protocol === "https:";
      p = { hostname: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || (https ? 443 : 80)), hostHeader: u.host, idle: [], tls: https ? (tls ?? true) : null };
      this.pools.set(key, p);
    }
    return p;
  }

  /** Run `ex` on an idle connection of `pool` synchronously (the hot path), or on a new one. */
  send(pool: Pool, ex: PoolExchange): void {
    const idle = pool.idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (!c.closed) { this.attach(c, ex); return; }
    }
    void this.sendFresh(pool, ex);
  }

  /** Run `ex` again on a new connection (a reused one turned out closed). */
  resend(pool: Pool, ex: PoolExchange): void { void this.sendFresh(pool, ex); }

  private attach(conn: Conn, ex: PoolExchange): void {
    ex.conn = conn;
    conn.ex = ex;
    ex.start(conn);
  }

  private async sendFresh(pool: Pool, ex: PoolExchange): Promise<void> {
    let conn: Conn;
    try {
      conn = await this.connect(pool, Math.min(ex.connectTimeoutMs, Math.max(1, ex.deadline - Date.now())));
    } catch (err) {
      ex.fail(err as UpstreamError);
      return;
    }
    if (ex.settled) { this.release(conn); return; } // the deadline passed while connecting: keep the connection
    this.attach(conn, ex);
  }

  private async connect(pool: Pool, timeoutMs: number): Promise<Conn> {
    const conn: Conn = { socket: null, pool, ex: null, served: 0, closed: false, pending: null, onDrain: null, paused: false, onHandshake: null, heldReads: 0, heldPaused: false };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UpstreamError("timeout", `connect timeout after ${timeoutMs} ms`)), timeoutMs);
    });
    // TLS: bytes written before the handshake completes are lost, so the connection is ready only after it.
    const handshake = pool.tls === null ? null : new Promise<void>((resolve, reject) => {
      conn.onHandshake = (ok, why) => (ok ? resolve() : reject(new UpstreamError("connect", `TLS handshake with the upstream failed: ${why}`)));
    });
    // Outside the request that happens to open it: a pooled connection's callbacks serve many requests.
    const opening = outsideRequest(() => Bun.connect<Conn>({ hostname: pool.hostname, port: pool.port, data: conn, socket: this.handlers, ...(pool.tls !== null ? { tls: pool.tls } : {}) }));
    try {
      conn.socket = await Promise.race([opening, timeout]);
      if (handshake !== null) await Promise.race([handshake, timeout]);
    } catch (err) {
      conn.onHandshake = null;
      conn.closed = true;
      conn.socket?.terminate();
      opening.then((s) => s.terminate(), () => undefined);
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError("connect", String((err as { code?: string }).code ?? (err as Error).message));
    } finally {
      clearTimeout(timer);
    }
    conn.socket.setNoDelay(true);
    this.conns.add(conn);
    return conn;
  }

  /** The exchange on `conn` is over: reuse the connection when it may be, else close it. */
  complete(conn: Conn, keepAlive: boolean): void {
    conn.ex = null;
    conn.served++;
    if (!keepAlive || conn.closed) { if (!conn.closed) this.destroy(conn); return; }
    if (conn.paused) { conn.paused = false; conn.socket!.resume(); }
    this.release(conn);
  }

  private release(conn: Conn): void {
    if (!this.closed && conn.pool.idle.length < MAX_IDLE_PER_INSTANCE) conn.pool.idle.push(conn);
    else this.destroy(conn);
  }

  destroy(conn: Conn): void {
    conn.closed = true;
    conn.ex = null;
    conn.socket?.terminate();
  }

  /** A request: its head (a string goes out UTF-8 encoded, as socket.write sends it) and its whole body, if any. */
  writeRequest(conn: Conn, head: string | Uint8Array, body: Uint8Array | null): void {
    if (body === null || body.byteLength > ONE_WRITE_MAX) {
      this.writeAll(conn, head);
      if (body !== null) this.writeAll(conn, body);
      return;
    }
    const headLen = typeof head === "string" ? Buffer.byteLength(head) : head.byteLength;
    const out = Buffer.allocUnsafe(headLen + body.byteLength);
    if (typeof head === "string") out.write(head, 0); else out.set(head);
    out.set(body, headLen);
    this.writeAll(conn, out);
  }

  /** Write everything, buffering what the socket does not take now (drained() waits for it). */
  writeAll(conn: Conn, data: string | Uint8Array): void {
    if (conn.closed || !conn.socket) return;
    if (conn.pending) {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      const merged = new Uint8Array(conn.pending.length + bytes.length);
      merged.set(conn.pending);
      merged.set(bytes, conn.pending.length);
      conn.pending = merged;
      return;
    }
    const written = conn.socket.write(data);
    const len = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    if (written < len) {
      const bytes = typeof data === "string" ? encoder.encode(data) : data;
      conn.pending = bytes.subarray(Math.max(0, written));
    }
  }

  drained(conn: Conn): Promise<void> {
    if (!conn.pending || conn.closed) return Promise.resolve();
    return new Promise((resolve) => { conn.onDrain = resolve; });
  }

  private onClose(conn: Conn): void {
    conn.closed = true;
    this.conns.delete(conn);
    if (conn.onHandshake !== null) { const h = conn.onHandshake; conn.onHandshake = null; h(false, "the connection closed during the TLS handshake"); }
    const idle = conn.pool.idle;
    const k = idle.indexOf(conn);
    if (k !== -1) idle.splice(k, 1);
    const ex = conn.ex;
    conn.ex = null;
    if (conn.onDrain) { const d = conn.onDrain; conn.onDrain = null; d(); }
    if (ex !== null) ex.onClose(conn, () => this.resend(conn.pool, ex));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const p of this.pools.values()) for (const c of p.idle.splice(0)) this.destroy(c);
  }
}
