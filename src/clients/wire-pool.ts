/**
 * Keep-alive HTTP/1.1 connections for the typed clients (wire-client.ts), on Bun.connect: per origin
 * (and TLS material) at most MAX_CONNS connections, one request in flight on each; a request that finds
 * them all busy waits in a bounded FIFO. TLS connections verify the server against the given CA and
 * its name against the URL's host. One unref'd timer (while any connection is open or a request waits)
 * fails requests past their deadline and closes connections idle for IDLE_MS. Idle sockets are unref'd:
 * a pooled connection never keeps a client process alive (a request in flight does, as fetch's).
 */
import type { Socket } from "bun";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";

export const MAX_CONNS = 64;
/** Requests waiting for a connection, per origin; beyond this a request fails at once (CLIENT_ERR_QUEUE_FULL, status 0: retryable). */
export const MAX_WAITING = 8192;
/** A connection idle this long is closed (below the usual server idle timeouts, which race with reuse). */
export const IDLE_MS = 4000;
/** Deadline granularity: a request times out between timeoutMs and timeoutMs + SWEEP_MS (as deadlineSignal). */
const SWEEP_MS = 25;

/** A transport failure: `status` 0 = no answer (retryable), else the status of an answer we could not take. */
export class WireError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); this.name = "WireError"; }
}
export const unreachable = (message: string) => new WireError(0, "CLIENT_ERR_UNREACHABLE", message);

/** One request/response; the pool hands it a connection and tells it what happens on it. */
export interface Exchange {
  /** Epoch ms; the sweeper fails the exchange (and destroys its connection) past it. */
  readonly deadline: number;
  settled: boolean;
  conn: Conn | null;
  start(conn: Conn): void;
  onData(conn: Conn, data: Buffer): void;
  /** The connection closed (or failed) while this exchange was on it. */
  onClose(conn: Conn): void;
  fail(err: WireError): void;
}

export interface Origin {
  readonly hostname: string;
  readonly port: number;
  /** Host header value (host[:port] as in the URL). */
  readonly hostHeader: string;
  readonly tls: Record<string, unknown> | null;
  readonly idle: Conn[];
  readonly waiting: Exchange[];
  /** Connections open or opening. */
  open: number;
}

export interface Conn {
  socket: Socket<Conn> | null;
  readonly origin: Origin;
  ex: Exchange | null;
  /** Responses completed on this connection (0: fresh, never reused). */
  served: number;
  closed: boolean;
  idleSince: number;
  referenced: boolean;
  pending: Uint8Array | null;
  onHandshake: ((ok: boolean, why: string) => void) | null;
}

const conns = new Set<Conn>();
const waitingOrigins = new Set<Origin>();
let sweeper: ReturnType<typeof setInterval> | null = null;

function sweep(): void {
  const now = Date.now();
  for (const conn of conns) {
    const ex = conn.ex;
    if (ex !== null) {
      if (!ex.settled && now >= ex.deadline) { ex.fail(unreachable("The operation timed out.")); destroy(conn); }
    } else if (now - conn.idleSince >= IDLE_MS) destroy(conn);
  }
  for (const o of waitingOrigins) {
    const w = o.waiting;
    for (const ex of w) if (!ex.settled && now >= ex.deadline) ex.fail(unreachable("The operation timed out."));
    if (w.some((ex) => ex.settled)) w.splice(0, w.length, ...w.filter((ex) => !ex.settled));
    if (w.length === 0) waitingOrigins.delete(o);
  }
  if (conns.size === 0 && waitingOrigins.size === 0 && sweeper !== null) { clearInterval(sweeper); sweeper = null; }
}

function sweeping(): void {
  if (sweeper !== null) return;
  sweeper = setInterval(sweep, SWEEP_MS);
  (sweeper as { unref?: () => void }).unref?.();
}

const handlers = {
  binaryType: "buffer" as const,
  data(s: Socket<Conn>, d: Buffer) {
    const conn = s.data;
    if (conn.ex === null) { destroy(conn); return; } // bytes nobody asked for: not a peer to reuse
    conn.ex.onData(conn, d);
  },
  drain(s: Socket<Conn>) {
    const conn = s.data;
    const p = conn.pending;
    if (p === null) return;
    const w = s.write(p);
    conn.pending = w < p.byteLength ? p.subarray(Math.max(0, w)) : null;
  },
  close(s: Socket<Conn>) { closed(s.data); },
  error(s: Socket<Conn>) { closed(s.data); },
  handshake(s: Socket<Conn>, ok: boolean, err: Error | null) {
    const h = s.data.onHandshake;
    s.data.onHandshake = null;
    if (h === null) return;
    if (!ok || err) { h(false, String((err as { code?: string } | null)?.code ?? err?.message ?? "TLS handshake failed")); return; }
    // The CA verified the chain; the name is checked here, as node's tls.connect does (checkServerIdentity).
    const bad = checkServerIdentity(s.data.origin.hostname, s.getPeerCertificate() as PeerCertificate);
    h(!bad, bad ? bad.message : "");
  },
};

const plain = new Map<string, Origin>();
const byTls = new WeakMap<object, Map<string, Origin>>();

/**
 * The pool of `origin` ("http(s)://host:port"). TLS material is keyed by identity (the clients' TLS
 * sources return the same object until a renewal), so connections made with old material are not reused.
 */
export function originFor(origin: string, tls: { cert?: string; key?: string; ca?: string } | undefined): Origin {
  const https = origin.charCodeAt(4) === 115;
  let map = plain;
  if (https && tls !== undefined) {
    map = byTls.get(tls) ?? new Map();
    if (map.size === 0) byTls.set(tls, map);
  }
  let o = map.get(origin);
  if (o === undefined) {
    if (!/^https?:\/\/[^/?#]+$/.test(origin)) throw new TypeError(`not an http(s) URL: ${origin}`);
    const u = new URL(origin);
    const hostname = u.hostname.replace(/^\[|\]$/g, "");
    o = {
      hostname, port: Number(u.port || (https ? 443 : 80)), hostHeader: u.host, idle: [], waiting: [], open: 0,
      tls: https ? { ...tls, rejectUnauthorized: true, ...(isIP(hostname) ? {} : { serverName: hostname }) } : null,
    };
    map.set(origin, o);
  }
  return o;
}

/** Run `ex` on an idle connection (synchronously: the hot path), a new one, or queue it. */
export function send(o: Origin, ex: Exchange): void {
  const idle = o.idle;
  while (idle.length > 0) {
    const c = idle.pop()!;
    if (!c.closed) { attach(c, ex); return; }
  }
  if (o.open < MAX_CONNS) { fresh(o, ex); return; }
  if (o.waiting.length >= MAX_WAITING) { ex.fail(new WireError(0, "CLIENT_ERR_QUEUE_FULL", `${MAX_WAITING} requests already wait for one of ${MAX_CONNS} connections`)); return; }
  o.waiting.push(ex);
  waitingOrigins.add(o);
  sweeping();
}

/** Run `ex` on a new connection (also: a reused one turned out closed by the server). */
export function fresh(o: Origin, ex: Exchange): void {
  if (o.open >= MAX_CONNS) { o.waiting.unshift(ex); waitingOrigins.add(o); sweeping(); return; }
  o.open++;
  const conn: Conn = { socket: null, origin: o, ex, served: 0, closed: false, idleSince: 0, referenced: true, pending: null, onHandshake: null };
  ex.conn = conn;
  conns.add(conn); // the sweeper bounds the connect by the exchange's deadline
  sweeping();
  void connect(conn);
}

async function connect(conn: Conn): Promise<void> {
  const o = conn.origin;
  // TLS: bytes written before the handshake completes are lost, so the connection is usable only after it.
  const handshake = o.tls === null ? null : new Promise<string>((resolve) => { conn.onHandshake = (ok, why) => resolve(ok ? "" : why); });
  try {
    conn.socket = await Bun.connect<Conn>({ hostname: o.hostname, port: o.port, data: conn, socket: handlers, ...(o.tls !== null ? { tls: o.tls } : {}) });
    if (conn.closed) { conn.socket.terminate(); return; }
    const why = handshake === null ? "" : await handshake;
    if (why !== "") throw new Error(`TLS handshake failed: ${why}`);
  } catch (err) {
    const ex = conn.ex;
    destroy(conn);
    ex?.fail(unreachable(String((err as { code?: string }).code ?? (err as Error).message)));
    return;
  }
  if (conn.closed) return;
  conn.socket.setNoDelay(true);
  const ex = conn.ex;
  if (ex === null || ex.settled) { conn.ex = null; release(conn); return; }
  ex.start(conn);
}

function attach(conn: Conn, ex: Exchange): void {
  ex.conn = conn;
  conn.ex = ex;
  if (!conn.referenced) { conn.referenced = true; conn.socket!.ref(); }
  ex.start(conn);
}

/** The exchange on `conn` is over: reuse the connection when it may be, else close it. */
export function complete(conn: Conn, reusable: boolean): void {
  conn.ex = null;
  conn.served++;
  // Part of the request still unsent (the server answered early): the next request's bytes would follow it.
  if (!reusable || conn.closed || conn.pending !== null) destroy(conn);
  else release(conn);
}

function release(conn: Conn): void {
  const w = conn.origin.waiting;
  while (w.length > 0) {
    const next = w.shift()!;
    if (!next.settled) { attach(conn, next); return; }
  }
  conn.idleSince = Date.now();
  if (conn.referenced) { conn.referenced = false; conn.socket!.unref(); }
  conn.origin.idle.push(conn);
}

/** Close `conn` now (mid-response, broken, unwanted); never reused. */
export function destroy(conn: Conn): void {
  if (conn.closed) return;
  conn.closed = true;
  conn.ex = null;
  const h = conn.onHandshake;
  conn.onHandshake = null;
  h?.(false, "the connection was closed");
  conn.socket?.terminate();
  forget(conn);
}

function closed(conn: Conn): void {
  if (conn.onHandshake !== null) { const h = conn.onHandshake; conn.onHandshake = null; h(false, "the connection closed during the TLS handshake"); }
  const ex = conn.ex;
  if (conn.closed) return;
  conn.closed = true;
  conn.ex = null;
  forget(conn);
  if (ex !== null && !ex.settled) ex.onClose(conn);
}

/** A connection is gone: a slot is free, so the oldest waiting request gets a new connection. */
function forget(conn: Conn): void {
  if (!conns.delete(conn)) return;
  const o = conn.origin;
  o.open--;
  const k = o.idle.indexOf(conn);
  if (k !== -1) o.idle.splice(k, 1);
  while (o.waiting.length > 0 && o.open < MAX_CONNS) {
    const next = o.waiting.shift()!;
    if (!next.settled) { fresh(o, next); break; }
  }
}

/** Write all of `data` (one write when the socket takes it; the rest goes out on drain). */
export function write(conn: Conn, data: string, bytes: number): void {
  if (conn.closed || conn.socket === null) return;
  const w = conn.socket.write(data);
  if (w < bytes) conn.pending = Buffer.from(data).subarray(Math.max(0, w));
}

/** For tests: open connections (all origins). */
export function openConnections(): number { return conns.size; }
