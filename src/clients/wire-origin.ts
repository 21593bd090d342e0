/**
 * The typed clients' transport, its shapes: an origin's pool (per origin and TLS material), a connection
 * with its FIFO of requests, one request/response (Exchange) and the transport's error. The pool's
 * logic is in wire-pool.ts, the response parsing in wire-client.ts.
 */
import type { Socket } from "bun";
import { isIP } from "node:net";

/** A transport failure: `status` 0 = no answer (retryable), else the status of an answer we could not take. */
export class WireError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); this.name = "WireError"; }
}
export const unreachable = (message: string) => new WireError(0, "CLIENT_ERR_UNREACHABLE", message);

/** One request/response; the pool puts it on a connection and hands it that connection's bytes. */
export interface Exchange {
  /** Epoch ms; the sweeper fails the exchange (and closes its connection) past it. */
  readonly deadline: number;
  /** Safe to send again (idempotent method, or an Idempotency-Key): may share a connection (pipelined). */
  readonly replayable: boolean;
  /** The whole request (head + body) and its length in bytes. */
  readonly text: string;
  readonly bytes: number;
  /** Set by the pool: the connection's byte count up to this request's end (was it all sent?). */
  endAt: number;
  settled: boolean;
  conn: Conn | null;
  /** Bytes of the connection's next answer: the bytes past this answer once it is complete (maybe empty), else null. */
  onData(conn: Conn, data: Buffer): Buffer | null;
  /** The server closed `conn` before this exchange's answer was whole: true = send it again on a fresh connection. */
  onClose(conn: Conn): boolean;
  fail(err: WireError): void;
}

export interface Origin {
  readonly hostname: string;
  readonly port: number;
  /** Host header value (host[:port] as in the URL). */
  readonly hostHeader: string;
  readonly tls: Record<string, unknown> | null;
  /** Connections open or opening, oldest first (pipelined requests fill the first with room). */
  readonly conns: Conn[];
  readonly waiting: Exchange[];
}

export interface Conn {
  socket: Socket<Conn> | null;
  readonly origin: Origin;
  /** Requests on this connection in the order sent: the next answer is q[0]'s (RFC 9112 §9.3.2). */
  readonly q: Exchange[];
  /** Carries a request that may not share the connection (then q holds only it). */
  solo: boolean;
  /** Responses completed on this connection (0: fresh, never reused). */
  served: number;
  closed: boolean;
  /** Connected (TLS: handshake done): bytes written before would be lost. */
  ready: boolean;
  idleSince: number;
  referenced: boolean;
  /** Requests assigned since the last flush: they go out together in one write. */
  out: string;
  outBytes: number;
  /** Bytes the socket did not take yet (sent on drain). */
  pending: Uint8Array | null;
  /** Bytes of all requests assigned to this connection. */
  total: number;
  onHandshake: ((ok: boolean, why: string) => void) | null;
}

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
      hostname, port: Number(u.port || (https ? 443 : 80)), hostHeader: u.host, conns: [], waiting: [],
      tls: https ? { ...tls, rejectUnauthorized: true, ...(isIP(hostname) ? {} : { serverName: hostname }) } : null,
    };
    map.set(origin, o);
  }
  return o;
}
