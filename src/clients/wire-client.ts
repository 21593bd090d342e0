/**
 * The typed clients' HTTP/1.1 transport (instead of fetch(), ~60% of a publish's client CPU): a
 * request is written in one write (head + body) on a pooled keep-alive connection (wire-pool.ts) and
 * its response read with the platform's one HTTP/1.1 codec (src/lib/http1: scanResponseHead, and
 * BodyFramer for chunked and close-delimited bodies). Whole bodies only (JSON in/out, at most
 * MAX_BODY_BYTES); streamed responses (SSE, NDJSON replays) stay on fetch (http.ts request()).
 */
import { CRLFCRLF, MAX_RESPONSE_HEAD, responseHasNoBody } from "../lib/http1/head";
import { ResponseScan, scanResponseHead } from "../lib/http1/response-scan";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../lib/http1/framer";
import { complete, destroy, fresh, originFor, send, unreachable, write, WireError, type Conn, type Exchange, type Origin } from "./wire-pool";

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
}

/** Header values go out as written: no CR/LF (a second header, or a second request), no NUL, ASCII only. */
const BAD_FIELD = /[^\t\x20-\x7e]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** One scan at a time (the event loop is single-threaded): no allocation per response head. */
const scan = new ResponseScan();

const enum Phase { Head, Body, Done }

class WireExchange implements Exchange {
  settled = false;
  conn: Conn | null = null;
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
  private parts: Buffer[] = [];
  private size = 0;
  private onAbort: (() => void) | null = null;

  constructor(
    private readonly origin: Origin,
    private readonly text: string,
    private readonly bytes: number,
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
        if (conn !== null && conn.ex === this) destroy(conn); // mid-request: the connection cannot be reused
      };
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  start(conn: Conn): void {
    this.conn = conn;
    this.got = false;
    write(conn, this.text, this.bytes);
  }

  fail(err: WireError): void {
    if (this.settled) return;
    this.settled = true;
    this.phase = Phase.Done;
    if (this.onAbort !== null) this.signal!.removeEventListener("abort", this.onAbort);
    this.reject(err);
  }

  private finish(conn: Conn, body: string, exact: boolean): void {
    this.settled = true;
    this.phase = Phase.Done;
    if (this.onAbort !== null) this.signal!.removeEventListener("abort", this.onAbort);
    // Bytes past the response (a server that sent more than it framed) make the connection unusable.
    complete(conn, this.keepAlive && exact);
    this.resolve({ status: this.status, statusText: this.statusText, body });
  }

  private broken(conn: Conn, err: WireError): void {
    this.fail(err);
    destroy(conn);
  }

  onData(conn: Conn, data: Buffer): void {
    this.got = true;
    if (this.phase === Phase.Body) { this.body(conn, data, 0); return; }
    let buf = data;
    while (this.phase === Phase.Head) {
      if (this.head !== null) { buf = Buffer.concat([this.head, buf]); this.head = null; }
      const end = buf.indexOf(CRLFCRLF);
      if (end === -1) {
        if (buf.length > MAX_RESPONSE_HEAD) this.broken(conn, new WireError(0, "CLIENT_ERR_BAD_RESPONSE", "response head too large"));
        else this.head = buf;
        return;
      }
      if (!scanResponseHead(buf, 0, end, scan)) { this.broken(conn, new WireError(0, "CLIENT_ERR_BAD_RESPONSE", "malformed response head")); return; }
      const rest = end + 4;
      if (scan.status < 200) { // interim (100 Continue...): the final head follows
        if (rest >= buf.length) return;
        buf = buf.subarray(rest);
        continue;
      }
      this.status = scan.status;
      // The reason phrase only for a refusal's message (a ServiceError without a coded body).
      if (scan.status >= 300) this.statusText = buf.toString("latin1", Math.min(scan.codeAt + 4, scan.statusLineEnd), scan.statusLineEnd);
      this.keepAlive = !scan.close;
      if (this.headOnly || responseHasNoBody("", scan.status)) { this.finish(conn, "", rest === buf.length); return; }
      const length = scan.contentLength;
      if (scan.chunked) (this.framer = new BodyFramer()).chunked();
      else if (length >= 0) {
        if (length > MAX_BODY_BYTES) { this.tooLarge(conn); return; }
        // The common case: the whole body came with its head.
        if (buf.length - rest >= length) { this.finish(conn, buf.toString("utf8", rest, rest + length), buf.length === rest + length); return; }
        (this.framer = new BodyFramer()).length(length);
      } else {
        (this.framer = new BodyFramer()).untilClose();
        this.keepAlive = false;
      }
      this.phase = Phase.Body;
      this.body(conn, buf, rest);
    }
  }

  private tooLarge(conn: Conn): void {
    this.broken(conn, new WireError(this.status, "CLIENT_ERR_RESPONSE_TOO_LARGE", `response body over ${MAX_BODY_BYTES} bytes`));
  }

  private body(conn: Conn, buf: Buffer, at: number): void {
    const end = this.framer!.advance(buf, at, buf.length, (from, to) => {
      this.size += to - from;
      if (this.size <= MAX_BODY_BYTES) this.parts.push(Buffer.from(buf.subarray(from, to))); // a copy: the socket may reuse its buffer
    });
    if (end === FRAMER_ERROR) { this.broken(conn, new WireError(0, "CLIENT_ERR_BAD_RESPONSE", this.framer!.error)); return; }
    if (this.size > MAX_BODY_BYTES) { this.tooLarge(conn); return; }
    if (end !== FRAMER_MORE) this.finish(conn, this.text0(), end === buf.length);
  }

  private text0(): string {
    const p = this.parts;
    this.parts = [];
    return p.length === 1 ? p[0].toString("utf8") : Buffer.concat(p).toString("utf8");
  }

  onClose(conn: Conn): void {
    if (this.settled) return;
    if (this.phase === Phase.Body && this.framer!.closeDelimited) { this.finish(conn, this.text0(), false); return; }
    if (!this.got && conn.served > 0 && !this.retried) {
      // A reused keep-alive connection the server had closed (its idle timeout raced our reuse) before a
      // single byte of an answer: the server answered nothing, so sending again on a fresh connection is
      // safe (once). At worst the request was received and its answer lost: EventClient publishes carry an
      // Idempotency-Key, so a repeat stores nothing twice (and fetch retries the same case itself).
      this.retried = true;
      this.conn = null;
      fresh(this.origin, this);
      return;
    }
    this.fail(unreachable(this.got ? "the connection closed in the middle of the response" : "the connection closed before a response"));
  }
}

/** Origin ("http://h:p") and origin-form target ("/p?q") of an absolute http(s) URL. */
function split(url: string): [string, string] {
  const at = url.indexOf("/", url.indexOf("//") + 2);
  return at === -1 ? [url, "/"] : [url.slice(0, at), url.slice(at)];
}

/** Send a request and read its whole answer (any status); rejects with WireError when there is none. */
export function wireRequest(url: string, r: WireRequest): Promise<WireAnswer> {
  if (r.signal?.aborted) return Promise.reject(unreachable((r.signal.reason as Error)?.message ?? "The operation was aborted."));
  const [base, target] = split(url);
  let origin: Origin;
  try { origin = originFor(base, r.tls); } catch (err) { return Promise.reject(err); }
  let head = r.method + " " + target + " HTTP/1.1\r\nhost: " + origin.hostHeader + "\r\n";
  const h = r.headers;
  if (h !== undefined) {
    for (const name in h) {
      const v = h[name];
      if (!TOKEN.test(name) || BAD_FIELD.test(v)) return Promise.reject(new TypeError(`invalid header ${JSON.stringify(name)}: ${JSON.stringify(v)}`));
      head += name + ": " + v + "\r\n";
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
    const ex = new WireExchange(origin, head, bytes, r.method === "HEAD", Date.now() + r.timeoutMs, r.signal, resolve, reject);
    send(origin, ex);
  });
}
