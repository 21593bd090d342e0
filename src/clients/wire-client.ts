/**
 * The typed clients' HTTP/1.1 transport (instead of fetch(), ~60% of a publish's client CPU): a
 * request is written in one write (head + body; the pipelined requests of a tick together) on a pooled
 * keep-alive connection (wire-pool.ts) and its response read with the platform's one HTTP/1.1 codec
 * (src/lib/http1: scanResponseHead, and BodyFramer for chunked and close-delimited bodies). Whole bodies
 * only (JSON in/out, at most MAX_BODY_BYTES); streamed responses (SSE, NDJSON replays) stay on fetch
 * (http.ts request()).
 */
import { CRLFCRLF, MAX_RESPONSE_HEAD, responseHasNoBody } from "../lib/http1/head";
import { ResponseScan, scanResponseHead } from "../lib/http1/response-scan";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../lib/http1/framer";
import { complete, destroy, originFor, send, unreachable, WireError, type Conn, type Exchange, type Origin } from "./wire-pool";

export { WireError };

/** A response body larger than this is refused (the connection closed): ServiceError CLIENT_ERR_RESPONSE_TOO_LARGE. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface WireAnswer { status: number; statusText: string; body: string }

export interface WireRequest {
  method: string;
  headers?: Record<string, string>;
  /** The body, already serialised (sent with content-length). */
  body?: string;
  contentType?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  tls?: { cert?: string; key?: string; ca?: string };
  /**
   * The request may be sent again (a read by POST, such as a token validation): pipelined like GET and
   * keyed requests. Without it: its method (GET/HEAD/PUT/DELETE) or an Idempotency-Key decides.
   */
  replayable?: boolean;
}

/** Header values go out as written: no CR/LF (a second header, or a second request), no NUL, ASCII only. */
const BAD_FIELD = /[^\t\x20-\x7e]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** One scan at a time (the event loop is single-threaded): no allocation per response head. */
const scan = new ResponseScan();

const enum Phase { Head, Body, Done }
const EMPTY = Buffer.alloc(0);

/** Methods idempotent by definition (RFC 9110 §9.2.2), which the clients may pipeline without a key. */
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE"]);

class WireExchange implements Exchange {
  settled = false;
  conn: Conn | null = null;
  endAt = 0;
  private phase = Phase.Head;
  /** Head bytes so far, while the head is incomplete. */
  private head: Buffer | null = null;
  /** Any byte of the response arrived on the current connection. */
  private got = false;
  private retried = false;
  private keepAlive = true;
  private status = 0;
  private statusText = "";
  private framer: BodyFramer | null = null;
  /** Body pieces of a framed (chunked, split) body; null until one comes (most answers come whole with their head). */
  private parts: Buffer[] | null = null;
  private size = 0;
  private onAbort: (() => void) | null = null;

  constructor(
    readonly text: string,
    readonly bytes: number,
    readonly replayable: boolean,
    private readonly headOnly: boolean,
    readonly deadline: number,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (a: WireAnswer) => void,
    private readonly reject: (e: WireError) => void,
  ) {
    if (signal !== undefined) {
      this.onAbort = () => {
        const conn = this.conn;
        this.fail(unreachable((signal.reason as Error)?.message ?? "The operation was aborted."));
        // On a connection: its answer may still come, so the answers after it could not be matched.
        if (conn !== null && conn.q.includes(this)) destroy(conn, unreachable("the connection was closed: a request before this one on it was aborted"));
      };
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  fail(err: WireError): void {
    if (this.settled) return;
    this.settled = true;
    this.phase = Phase.Done;
    if (this.onAbort !== null) this.signal!.removeEventListener("abort", this.onAbort);
    this.reject(err);
  }

  /** The answer ends at `end` of `buf`: the bytes after it (the next answers) go back to the pool. */
  private finish(conn: Conn, body: string, buf: Buffer, end: number): Buffer | null {
    this.settled = true;
    this.phase = Phase.Done;
    if (this.onAbort !== null) this.signal!.removeEventListener("abort", this.onAbort);
    complete(conn, this.keepAlive);
    this.resolve({ status: this.status, statusText: this.statusText, body });
    return conn.closed || end === buf.length ? null : buf.subarray(end);
  }

  /** This answer cannot be read: the connection's later answers cannot be matched either. */
  private broken(conn: Conn, err: WireError): null {
    this.fail(err);
    destroy(conn, unreachable(`the connection was closed: an answer before this one on it was refused (${err.message})`));
    return null;
  }

  onData(conn: Conn, data: Buffer): Buffer | null {
    this.got = true;
    if (this.phase === Phase.Body) return this.body(conn, data, 0);
    let buf = data;
    for (;;) {
      if (this.head !== null) { buf = Buffer.concat([this.head, buf]); this.head = null; }
      const end = buf.indexOf(CRLFCRLF);
      if (end === -1) {
        if (buf.length > MAX_RESPONSE_HEAD) return this.broken(conn, new WireError(0, "CLIENT_ERR_BAD_RESPONSE", "response head too large"));
        this.head = Buffer.from(buf); // a copy: the socket may reuse its buffer
        return null;
      }
      if (!scanResponseHead(buf, 0, end, scan)) return this.broken(conn, new WireError(0, "CLIENT_ERR_BAD_RESPONSE", "malformed response head"));
      const rest = end + 4;
      if (scan.status < 200) { // interim (100 Continue...): the final head follows
        if (rest >= buf.length) return null;
        buf = buf.subarray(rest);
        continue;
      }
      this.status = scan.status;
      // The reason phrase only for a refusal's message (a ServiceError without a coded body).
      if (scan.status >= 300) this.statusText = buf.toString("latin1", Math.min(scan.codeAt + 4, scan.statusLineEnd), scan.statusLineEnd);
      this.keepAlive = !scan.close;
      if (this.headOnly || responseHasNoBody("", scan.status)) return this.finish(conn, "", buf, rest);
      const length = scan.contentLength;
      if (scan.chunked) (this.framer = new BodyFramer()).chunked();
      else if (length >= 0) {
        if (length > MAX_BODY_BYTES) return this.tooLarge(conn);
        // The common case: the whole body came with its head.
        if (buf.length - rest >= length) return this.finish(conn, buf.toString("utf8", rest, rest + length), buf, rest + length);
        (this.framer = new BodyFramer()).length(length);
      } else {
        (this.framer = new BodyFramer()).untilClose();
        this.keepAlive = false;
      }
      this.phase = Phase.Body;
      return this.body(conn, buf, rest);
    }
  }

  private tooLarge(conn: Conn): null {
    return this.broken(conn, new WireError(this.status, "CLIENT_ERR_RESPONSE_TOO_LARGE", `response body over ${MAX_BODY_BYTES} bytes`));
  }

  private body(conn: Conn, buf: Buffer, at: number): Buffer | null {
    const end = this.framer!.advance(buf, at, buf.length, (from, to) => {
      this.size += to - from;
      if (this.size <= MAX_BODY_BYTES) (this.parts ??= []).push(Buffer.from(buf.subarray(from, to))); // a copy: the socket may reuse its buffer
    });
    if (end === FRAMER_ERROR) return this.broken(conn, new WireError(0, "CLIENT_ERR_BAD_RESPONSE", this.framer!.error));
    if (this.size > MAX_BODY_BYTES) return this.tooLarge(conn);
    return end === FRAMER_MORE ? null : this.finish(conn, this.text0(), buf, end);
  }

  private text0(): string {
    const p = this.parts;
    this.parts = null;
    return p === null ? "" : p.length === 1 ? p[0].toString("utf8") : Buffer.concat(p).toString("utf8");
  }

  onClose(conn: Conn): boolean {
    if (this.settled) return false;
    if (this.phase === Phase.Body && this.framer!.closeDelimited) { this.finish(conn, this.text0(), EMPTY, 0); return false; }
    if (!this.got && conn.served > 0 && !this.retried) {
      // A reused keep-alive connection the server had closed (its idle timeout raced our reuse) before a
      // single byte of an answer: the server answered nothing, so sending again on a fresh connection is
      // safe (once). At worst the request was received and its answer lost: EventClient publishes carry an
      // Idempotency-Key, so a repeat stores nothing twice (and fetch retries the same case itself). The same
      // holds for pipelined requests after the answers the server sent before closing: all are replayable.
      this.retried = true;
      this.conn = null;
      return true;
    }
    this.fail(unreachable(this.got ? "the connection closed in the middle of the response" : "the connection closed before a response"));
    return false;
  }
}

/** Origin ("http://h:p") and origin-form target ("/p?q") of an absolute http(s) URL. */
function split(url: string): [string, string] {
  if (url === lastUrl) return lastSplit; // a client's publishes all go to one URL: no array and slices per request
  const at = url.indexOf("/", url.indexOf("//") + 2);
  lastSplit = at === -1 ? [url, "/"] : [url.slice(0, at), url.slice(at)];
  lastUrl = url;
  return lastSplit;
}
let lastUrl = "";
let lastSplit: [string, string] = ["", "/"];

/** Send a request and read its whole answer (any status); rejects with WireError when there is none. */
export function wireRequest(url: string, r: WireRequest): Promise<WireAnswer> {
  if (r.signal?.aborted) return Promise.reject(unreachable((r.signal.reason as Error)?.message ?? "The operation was aborted."));
  const [base, target] = split(url);
  let origin: Origin;
  try { origin = originFor(base, r.tls); } catch (err) { return Promise.reject(err); }
  let head = r.method + " " + target + " HTTP/1.1\r\nhost: " + origin.hostHeader + "\r\n";
  let replayable = r.replayable === true || IDEMPOTENT.has(r.method);
  const h = r.headers;
  if (h !== undefined) {
    for (const name in h) {
      const v = h[name];
      if (!TOKEN.test(name) || BAD_FIELD.test(v)) return Promise.reject(new TypeError(`invalid header ${JSON.stringify(name)}: ${JSON.stringify(v)}`));
      head += name + ": " + v + "\r\n";
      if (name.length === 15 && name.toLowerCase() === "idempotency-key") replayable = true;
    }
  }
  let bytes: number;
  if (r.body !== undefined) {
    const n = Buffer.byteLength(r.body);
    if (r.contentType !== undefined) head += "content-type: " + r.contentType + "\r\n";
    head += "content-length: " + n + "\r\n\r\n";
    bytes = head.length + n;
    head += r.body;
  } else {
    head += "\r\n";
    bytes = head.length;
  }
  if (BAD_FIELD.test(target)) return Promise.reject(new TypeError(`invalid request target: ${target}`));
  return new Promise<WireAnswer>((resolve, reject) => {
    const ex = new WireExchange(head, bytes, replayable, r.method === "HEAD", Date.now() + r.timeoutMs, r.signal, resolve, reject);
    send(origin, ex);
  });
}
