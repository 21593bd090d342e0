/**
 * Keep-alive HTTP/1.1 connections for the typed clients (wire-client.ts), on Bun.connect, with
 * pipelining (RFC 9112 §9.3.2) for requests that are safe to send again (Exchange.replayable):
 * - per origin (and TLS material) at most MAX_CONNS connections;
 * - a replayable request goes on the first connection with fewer than `depth` requests in flight
 *   (none carrying a non-replayable one); a new connection is opened only when all are at depth,
 *   up to `connections` of them; then it waits in a bounded FIFO (MAX_WAITING);
 * - a non-replayable request has a connection to itself (an idle one, a new one, or it waits);
 * - requests assigned in the same tick go out in one write per connection (flushed in a microtask);
 * - answers are matched to requests in order; bytes nobody asked for, a malformed or oversized answer,
 *   a timeout or an abort close the connection and fail every request on it without a whole answer
 *   (status 0: the caller's retry decides); a connection the server closes sends its unanswered
 *   requests once more on a fresh connection when it had answered before (the keep-alive race).
 * TLS connections verify the server against the given CA and its name against the URL's host. One
 * unref'd timer (while any connection is open or a request waits) fails requests past their deadline and
 * closes connections idle for IDLE_MS. Idle sockets are unref'd: a pooled connection never keeps a client
 * process alive (a request in flight does, as fetch's).
 */
import type { Socket } from "bun";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { unreachable, WireError, type Conn, type Exchange, type Origin } from "./wire-origin";

export { originFor, unreachable, WireError, type Conn, type Exchange, type Origin } from "./wire-origin";

export const MAX_CONNS = 64;
/**
 * Pipelining defaults. 8 connections × 32 requests cover a few hundred publishes in flight from one
 * process: enough to fill a server's batches while a request never waits behind more than 31 others
 * on its connection (head-of-line blocking is bounded) and a connection lost costs at most 32 retries.
 * Requests are spread over the connections before any gets deeper (send()).
 */
export const PIPE_CONNS = 8;
export const PIPE_DEPTH = 32;
/** Requests waiting for a connection, per origin; beyond this a request fails at once (CLIENT_ERR_QUEUE_FULL, status 0: retryable). */
export const MAX_WAITING = 8192;
/** A connection idle this long is closed (below the usual server idle timeouts, which race with reuse). */
export const IDLE_MS = 4000;
/** Deadline granularity: a request times out between timeoutMs and timeoutMs + SWEEP_MS (as deadlineSignal). */
const SWEEP_MS = 25;

const pipe = { connections: PIPE_CONNS, depth: PIPE_DEPTH };

/** Change the pipelining policy (all origins; depth 1 = no pipelining); returns the previous one. */
export function setPipelining(p: { connections?: number; depth?: number }): { connections: number; depth: number } {
  const before = { ...pipe };
  if (p.connections !== undefined) pipe.connections = Math.max(1, Math.min(MAX_CONNS, Math.floor(p.connections)));
  if (p.depth !== undefined) pipe.depth = Math.max(1, Math.floor(p.depth));
  return before;
}

const conns = new Set<Conn>();
const waitingOrigins = new Set<Origin>();
let sweeper: ReturnType<typeof setInterval> | null = null;

function sweep(): void {
  const now = Date.now();
  // Waiting requests first: a connection closed below hands its slot to the waiting, which must be live ones.
  for (const o of waitingOrigins) {
    const w = o.waiting;
    for (const ex of w) if (!ex.settled && now >= ex.deadline) ex.fail(unreachable("The operation timed out."));
    if (w.some((ex) => ex.settled)) w.splice(0, w.length, ...w.filter((ex) => !ex.settled));
    if (w.length === 0) waitingOrigins.delete(o);
  }
  for (const conn of conns) {
    if (conn.q.length === 0) { if (now - conn.idleSince >= IDLE_MS) destroy(conn, null); continue; }
    let late = false;
    for (const ex of conn.q) if (!ex.settled && now >= ex.deadline) { ex.fail(unreachable("The operation timed out.")); late = true; }
    // The late request's answer may still come: the answers after it could no longer be matched.
    if (late) destroy(conn, unreachable("the connection was closed: a request before this one on it timed out"));
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
    let buf: Buffer | null = d;
    // One read may carry several answers: each goes to the oldest request still waiting for one.
    while (buf !== null && buf.length > 0 && !conn.closed) {
      const ex = conn.q[0];
      if (ex === undefined) { destroy(conn, null); return; } // bytes nobody asked for: not a peer to reuse
      buf = ex.onData(conn, buf);
    }
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

/** Put `ex` on a connection with room (synchronously: the hot path), a new one, or queue it. */
export function send(o: Origin, ex: Exchange): void {
  let shared = 0; // connections that may carry pipelined requests
  if (ex.replayable) {
    // Spread before deepening: an idle connection first, then a new one up to pipe.connections, then the
    // least loaded. A server that answers a connection's requests one at a time (one that does not take
    // them pipelined) still gets pipe.connections of them at once, not one connection's queue in series.
    let least: Conn | null = null;
    for (const c of o.conns) {
      if (c.solo || c.closed) continue;
      shared++;
      if (c.q.length === 0) { assign(c, ex); return; }
      if (c.q.length < pipe.depth && (least === null || c.q.length < least.q.length)) least = c;
    }
    if (least !== null && (shared >= pipe.connections || o.conns.length >= MAX_CONNS)) { assign(least, ex); return; }
  } else {
    for (let i = o.conns.length - 1; i >= 0; i--) { const c = o.conns[i]; if (c.q.length === 0 && !c.closed) { assign(c, ex); return; } }
  }
  if (o.conns.length < MAX_CONNS && (!ex.replayable || shared < pipe.connections)) { fresh(o, [ex]); return; }
  if (o.waiting.length >= MAX_WAITING) { ex.fail(new WireError(0, "CLIENT_ERR_QUEUE_FULL", `${MAX_WAITING} requests already wait for a connection`)); return; }
  o.waiting.push(ex);
  waitingOrigins.add(o);
  sweeping();
}

/** Open a connection for `exs` (they came off one connection, so they fit on one); or queue them first in line. */
function fresh(o: Origin, exs: Exchange[]): void {
  if (o.conns.length >= MAX_CONNS) { o.waiting.unshift(...exs); waitingOrigins.add(o); sweeping(); return; }
  const conn: Conn = { socket: null, origin: o, q: [], solo: false, served: 0, closed: false, ready: false, idleSince: 0, referenced: true, out: "", outBytes: 0, pending: null, total: 0, onHandshake: null };
  o.conns.push(conn);
  conns.add(conn); // the sweeper bounds the connect by the requests' deadlines
  sweeping();
  for (const ex of exs) assign(conn, ex);
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
    destroy(conn, unreachable(String((err as { code?: string }).code ?? (err as Error).message)));
    return;
  }
  if (conn.closed) return;
  conn.socket.setNoDelay(true);
  conn.ready = true;
  if (conn.q.length === 0) idle(conn);
  else flush(conn);
}

function assign(conn: Conn, ex: Exchange): void {
  ex.conn = conn;
  conn.q.push(ex);
  if (!ex.replayable) conn.solo = true;
  if (!conn.referenced) { conn.referenced = true; conn.socket?.ref(); }
  conn.total += ex.bytes;
  ex.endAt = conn.total;
  conn.out += ex.text;
  conn.outBytes += ex.bytes;
  if (!conn.ready) return;
  dirty.add(conn);
  if (!flushQueued) { flushQueued = true; queueMicrotask(flushAll); }
}

const dirty = new Set<Conn>();
let flushQueued = false;

function flushAll(): void {
  flushQueued = false;
  // Deleted as flushed: a connection made dirty during the loop is still visited (a Set iterates additions).
  for (const c of dirty) { dirty.delete(c); flush(c); }
}

/** Hand the requests assigned since the last flush to the socket in one write (after any bytes it has not taken). */
function flush(conn: Conn): void {
  const data = conn.out, n = conn.outBytes;
  if (n === 0 || conn.closed || !conn.ready) return;
  conn.out = "";
  conn.outBytes = 0;
  if (conn.pending !== null) { conn.pending = Buffer.concat([conn.pending, Buffer.from(data)]); return; }
  const w = conn.socket!.write(data);
  if (w < n) conn.pending = Buffer.from(data).subarray(Math.max(0, w));
}

/** The answer to conn.q[0] is whole: reuse the connection when it may be, else close it. */
export function complete(conn: Conn, reusable: boolean): void {
  conn.served++;
  if (conn.closed) return; // answered by the close (a close-delimited body): q was already taken
  const ex = conn.q.shift()!;
  const unsent = conn.outBytes + (conn.pending?.byteLength ?? 0);
  // Part of this request still unsent (the server answered early): the next request's bytes would follow it.
  if (!reusable || conn.total - unsent < ex.endAt) { destroy(conn, null); return; }
  if (conn.q.length === 0) { conn.solo = false; idle(conn); }
  else fill(conn);
}

/** Waiting requests onto `conn` while they fit, oldest first (a non-replayable one only on an empty connection). */
function fill(conn: Conn): void {
  const w = conn.origin.waiting;
  while (w.length > 0 && !conn.solo && conn.q.length < pipe.depth) {
    const next = w[0];
    if (next.settled) { w.shift(); continue; }
    if (!next.replayable && conn.q.length > 0) return;
    w.shift();
    assign(conn, next);
  }
}

function idle(conn: Conn): void {
  fill(conn);
  if (conn.q.length > 0) return;
  conn.idleSince = Date.now();
  if (conn.referenced) { conn.referenced = false; conn.socket!.unref(); }
}

/**
 * Close `conn` now (broken, unwanted, or its answers can no longer be matched): never reused. The
 * requests on it without a whole answer fail with `err`, or (null: as if the server had closed it) are
 * sent again when they may be.
 */
export function destroy(conn: Conn, err: WireError | null): void {
  if (conn.closed) return;
  conn.closed = true;
  const h = conn.onHandshake;
  conn.onHandshake = null;
  h?.(false, "the connection was closed");
  conn.socket?.terminate();
  settle(conn, err);
}

function closed(conn: Conn): void {
  if (conn.onHandshake !== null) { const h = conn.onHandshake; conn.onHandshake = null; h(false, "the connection closed during the TLS handshake"); }
  if (conn.closed) return;
  conn.closed = true;
  settle(conn, null);
}

function settle(conn: Conn, err: WireError | null): void {
  const q = conn.q.splice(0);
  forget(conn);
  const again: Exchange[] = [];
  for (const ex of q) {
    if (ex.settled) continue;
    if (err !== null) ex.fail(err);
    else if (ex.onClose(conn)) again.push(ex);
  }
  if (again.length > 0) fresh(conn.origin, again);
}

/** A connection is gone: a slot is free, so the oldest waiting requests get a new connection. */
function forget(conn: Conn): void {
  dirty.delete(conn);
  if (!conns.delete(conn)) return;
  const o = conn.origin;
  const k = o.conns.indexOf(conn);
  if (k !== -1) o.conns.splice(k, 1);
  while (o.waiting.length > 0 && o.waiting[0].settled) o.waiting.shift();
  if (o.waiting.length > 0 && o.conns.length < MAX_CONNS) {
    fresh(o, []);
    fill(o.conns[o.conns.length - 1]);
  }
}

/** For tests: open connections (all origins). */
export function openConnections(): number { return conns.size; }
