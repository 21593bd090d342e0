/**
 * A request body that streams (chunked, or longer than what came with the head) on the wire lane: read
 * from the client's connection (WireClient.readBody) only once an attempt's request head is on an
 * upstream connection, and written there as it comes, with backpressure both ways: a full upstream
 * socket pauses reading the client, its drain resumes it, so memory stays at one read whatever the
 * sizes. A chunked body is framed again here, one chunk per read of the client's (sizes in canonical
 * hex, no extensions, no trailer fields): the upstream parses framing we wrote, never the client's.
 *
 * Retry rule: once body bytes went out on an attempt, the request is not sent again, unless the whole
 * body was received and is at most KEEP_MAX bytes (a copy is kept while it is that small, when the
 * route may retry): then it can be. Bytes read while no attempt can take them wait for the next one.
 */
import type { WireBodySink, WireClient } from "../../../src/core/wire";
import type { Conn, ConnectionPool } from "./pool";

/** A body up to this size is kept while it streams, so a failed attempt can be sent again. */
export const KEEP_MAX = 64 * 1024;
/** A chunk up to this size goes out as one write (size line, data, CRLF copied together). */
const COPY_MAX = 16 * 1024;

/** The attempt the body is written on: its response-head deadline is stopped while the client's bytes are awaited. */
export interface BodyCarrier {
  deadline: number;
  /** The attempt's head timeout (ms), restarted from the body's last byte. */
  readonly span: number;
}

export interface BodyListener {
  /** The body broke on the client's side: bad chunk framing ("client"), or more than max_body_size ("body-limit"). */
  bodyFailed(kind: "client" | "body-limit", message: string): void;
}

export class RelayBody implements WireBodySink {
  /** Body bytes read from the client so far. */
  taken = 0;
  complete = false;
  /** The body so far while it may be sent again (null: too large, or the route never retries). */
  private kept: Buffer[] | null;
  private conn: Conn | null = null;
  private carrier: BodyCarrier | null = null;
  /** Body bytes written to an upstream connection (by any attempt). */
  private sent = 0;
  /** Bytes read while no attempt could take them (between attempts, or its connection gone): the next one sends them. */
  private waiting: Buffer[] = [];
  private reading = false;
  private failed = false;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly client: WireClient,
    private readonly chunked: boolean,
    /** max_body_size (a Content-Length above it was refused before any attempt). */
    private readonly max: number,
    private readonly listener: BodyListener,
    /** The route may retry this request: keep a small body for that. */
    keep: boolean,
  ) {
    this.kept = keep ? [] : null;
  }

  /** The client has been asked for the body (its 100 Continue sent, if it expected one). */
  get asked(): boolean { return this.reading; }

  /** Whether a new attempt may carry this body: none of it sent yet, or all of it read and kept. */
  get replayable(): boolean { return !this.failed && (this.sent === 0 || (this.complete && this.kept !== null)); }

  /** Whether the whole body went out on `carrier`'s connection (else that connection cannot be reused). */
  sentOn(carrier: BodyCarrier): boolean { return this.complete && this.carrier === carrier; }

  /** The attempt `carrier` wrote its request head on `conn`: the body follows there (what was read already first). */
  start(carrier: BodyCarrier, conn: Conn): void {
    this.conn = conn;
    this.carrier = carrier;
    // Sent before (replayable says all of it is kept): all again; else what no attempt took yet.
    const first = this.sent > 0 ? this.kept! : this.waiting;
    this.waiting = [];
    for (const b of first) this.write(conn, b);
    if (this.complete) { this.finishOn(conn, carrier); return; }
    carrier.deadline = Infinity; // waiting on the client is not the upstream's time
    if (!this.reading) { this.reading = true; this.client.readBody(this); }
    else this.client.resumeReading();
  }

  /** The attempt is over (answered, failed, abandoned): nothing more goes to its connection. */
  detach(carrier: BodyCarrier): void {
    if (this.carrier !== carrier) return;
    this.conn = null;
    this.carrier = null;
    // Between attempts (a retry's backoff) the client waits; once answered, the front reads on and discards.
    if (this.reading && !this.complete) this.client.pauseReading();
  }

  data(bytes: Uint8Array): boolean {
    this.taken += bytes.byteLength;
    if (this.chunked && this.taken > this.max) { this.broke("body-limit", `request body exceeds ${this.max} bytes`); return true; }
    if (this.kept !== null) { if (this.taken <= KEEP_MAX) this.kept.push(Buffer.from(bytes)); else this.kept = null; }
    const conn = this.conn;
    // No attempt to carry it (see detach), or its connection is gone (the attempt fails or is sent again).
    if (conn === null || conn.closed) { this.waiting.push(Buffer.from(bytes)); return false; }
    this.write(conn, bytes);
    if (conn.pending === null) return true;
    // The upstream is behind: stop reading the client until it drains. That wait is the upstream's time.
    const carrier = this.carrier!;
    carrier.deadline = Date.now() + carrier.span;
    conn.onDrain = () => {
      if (this.carrier === carrier && !this.complete) carrier.deadline = Infinity;
      if (this.conn === conn) this.client.resumeReading();
    };
    return false;
  }

  end(): void {
    this.complete = true;
    const conn = this.conn;
    if (conn !== null && !conn.closed) this.finishOn(conn, this.carrier!);
  }

  fail(message: string): void { this.broke("client", message); }

  private broke(kind: "client" | "body-limit", message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.listener.bodyFailed(kind, message);
  }

  /** The last byte is out: the chunked end, and the head timeout runs from here. */
  private finishOn(conn: Conn, carrier: BodyCarrier): void {
    if (this.chunked) this.pool.writeAll(conn, "0\r\n\r\n");
    carrier.deadline = Date.now() + carrier.span;
  }

  private write(conn: Conn, bytes: Uint8Array): void {
    this.sent += bytes.byteLength;
    if (!this.chunked) { this.pool.writeAll(conn, bytes); return; }
    const size = bytes.byteLength.toString(16);
    if (bytes.byteLength > COPY_MAX) { // large: no copy (less garbage), three writes
      this.pool.writeAll(conn, size + "\r\n");
      this.pool.writeAll(conn, bytes);
      this.pool.writeAll(conn, "\r\n");
      return;
    }
    const n = size.length + 2;
    const out = Buffer.allocUnsafe(n + bytes.byteLength + 2);
    out.write(size + "\r\n", 0, "latin1");
    out.set(bytes, n);
    out[n + bytes.byteLength] = 13;
    out[n + bytes.byteLength + 1] = 10;
    this.pool.writeAll(conn, out);
  }
}
