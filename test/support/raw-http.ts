/**
 * A raw HTTP/1.1 test client on Bun.connect: exact bytes out, responses read back from the byte
 * stream with an independent (deliberately naive) parser, so the tests check the wire, not a client
 * library's idea of it. Every wait is bounded.
 */
import type { Socket } from "bun";

export interface RawResponse {
  status: number;
  /** The head as text (latin1), without the blank line. */
  head: string;
  /** Field lines in order, names lower-cased. */
  headers: [string, string][];
  /** Decoded body (chunked framing removed). */
  body: Buffer;
  /** The body bytes exactly as they came on the wire (chunk sizes and trailers included). */
  wireBody: Buffer;
  /** Trailer field lines of a chunked body (raw text). */
  trailers: string;
  header(name: string): string | null;
  all(name: string): string[];
}

export class RawConn {
  socket!: Socket<RawConn>;
  buf: Buffer = Buffer.alloc(0);
  closed = false;
  /** Total bytes ever received. */
  received = 0;
  /** Data events (socket reads) so far: how many writes the server's answers took, on loopback. */
  reads = 0;
  private waiters: (() => void)[] = [];
  private out: Buffer[] = [];
  private drainWaiters: (() => void)[] = [];

  static async open(port: number, hostname = "127.0.0.1"): Promise<RawConn> {
    const c = new RawConn();
    c.socket = await Bun.connect<RawConn>({
      hostname,
      port,
      data: c,
      socket: {
        binaryType: "buffer",
        data(s, d) { s.data.onData(d as Buffer); },
        drain(s) { s.data.flush(); },
        close(s) { s.data.onClose(); },
        error(s) { s.data.onClose(); },
        end(s) { s.data.onClose(); },
      },
    });
    return c;
  }

  private onData(d: Buffer): void {
    this.received += d.length;
    this.reads++;
    this.buf = this.buf.length === 0 ? Buffer.from(d) : Buffer.concat([this.buf, d]);
    this.wake();
  }

  private onClose(): void {
    this.closed = true;
    this.wake();
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private wake(): void { for (const w of this.waiters.splice(0)) w(); }

  /** Queue bytes; resolves once the socket took them all (or it closed). */
  write(data: string | Uint8Array): Promise<void> {
    const b = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
    this.out.push(b);
    this.flush();
    if (this.out.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private flush(): void {
    while (this.out.length > 0 && !this.closed) {
      const b = this.out[0];
      const n = this.socket.write(b);
      if (n < b.length) { this.out[0] = b.subarray(Math.max(0, n)); return; }
      this.out.shift();
    }
    if (this.out.length === 0 || this.closed) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Resolve once pred(buf) is true; reject after timeoutMs (or when closed and pred still false). */
  async waitFor(pred: (b: Buffer) => boolean, timeoutMs = 5000, what = "data"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.buf)) {
      if (this.closed) throw new Error(`connection closed while waiting for ${what}; got ${JSON.stringify(this.buf.toString("latin1").slice(0, 300))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.buf.toString("latin1").slice(0, 300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** True when the peer closed within timeoutMs. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return true;
  }

  /**
   * Read one response (interim 1xx ones are returned as they come). `method` says whether the
   * response may carry a body. Bytes after it stay in `buf`.
   */
  async read(opts: { method?: string; timeoutMs?: number } = {}): Promise<RawResponse> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    await this.waitFor((b) => b.indexOf("\r\n\r\n") !== -1, left(), "a response head");
    const end = this.buf.indexOf("\r\n\r\n");
    const head = this.buf.toString("latin1", 0, end);
    const lines = head.split("\r\n");
    const status = Number(lines[0].slice(9, 12));
    if (!/^HTTP\/1\.[01] \d{3}/.test(lines[0])) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers: [string, string][] = lines.slice(1).map((l) => {
      const c = l.indexOf(":");
      return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()] as [string, string];
    });
    const get = (n: string) => headers.filter(([k]) => k === n).map(([, v]) => v);
    let at = end + 4;
    const method = opts.method ?? "GET";
    let body = Buffer.alloc(0);
    let wireBody = Buffer.alloc(0);
    let trailers = "";
    const te = get("transfer-encoding").join(",").toLowerCase();
    const cl = get("content-length");
    if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
      // no body
    } else if (te.endsWith("chunked")) {
      const start = at;
      const parts: Buffer[] = [];
      for (;;) {
        await this.waitFor((b) => b.indexOf("\r\n", at) !== -1, left(), "a chunk size line");
        const nl = this.buf.indexOf("\r\n", at);
        const size = parseInt(this.buf.toString("latin1", at, nl).split(";")[0].trim(), 16);
        if (!Number.isFinite(size)) throw new Error("bad chunk size from the server");
        at = nl + 2;
        if (size === 0) break;
        await this.waitFor((b) => b.length >= at + size + 2, left(), "chunk data");
        parts.push(Buffer.from(this.buf.subarray(at, at + size)));
        if (this.buf.toString("latin1", at + size, at + size + 2) !== "\r\n") throw new Error("chunk data not followed by CRLF");
        at += size + 2;
      }
      // trailers up to the empty line
      for (;;) {
        await this.waitFor((b) => b.indexOf("\r\n", at) !== -1, left(), "trailers");
        const nl = this.buf.indexOf("\r\n", at);
        const line = this.buf.toString("latin1", at, nl);
        at = nl + 2;
        if (line === "") break;
        trailers += line + "\r\n";
      }
      body = Buffer.concat(parts);
      wireBody = Buffer.from(this.buf.subarray(start, at));
    } else if (cl.length > 0) {
      const n = Number(cl[0]);
      await this.waitFor((b) => b.length >= at + n, left(), `a ${n}-byte body`);
      body = Buffer.from(this.buf.subarray(at, at + n));
      wireBody = body;
      at += n;
    } else {
      // until close
      await this.waitClosedOrThrow(left());
      body = Buffer.from(this.buf.subarray(at));
      wireBody = body;
      at = this.buf.length;
    }
    this.buf = Buffer.from(this.buf.subarray(at));
    return {
      status, head, headers, body, wireBody, trailers,
      header: (n) => { const v = get(n.toLowerCase()); return v.length === 0 ? null : v.join(", "); },
      all: (n) => get(n.toLowerCase()),
    };
  }

  private async waitClosedOrThrow(timeoutMs: number): Promise<void> {
    if (!(await this.waitClosed(timeoutMs))) throw new Error("timed out waiting for a close-delimited body to end");
  }

  /** Send, then read one response. */
  async request(bytes: string | Uint8Array, opts: { method?: string; timeoutMs?: number } = {}): Promise<RawResponse> {
    await this.write(bytes);
    return this.read(opts);
  }

  end(): void { if (!this.closed) this.socket.end(); }
  terminate(): void { if (!this.closed) this.socket.terminate(); this.closed = true; }
}

/** A raw TCP server (Bun.listen, port 0) that hands each complete request to `respond`. Keep-alive: several requests per connection. */
/** The raw connections a suite opens, so each test can close what it left open. */
export class RawConns {
  private readonly open: RawConn[] = [];
  constructor(private readonly port: () => number) {}
  /** Open one to the suite's port (or `port`), tracked. */
  async conn(port = this.port()): Promise<RawConn> {
    const c = await RawConn.open(port);
    this.open.push(c);
    return c;
  }
  closeAll(): void { for (const c of this.open.splice(0)) c.terminate(); }
}

export interface RawServer {
  port: number;
  url: string;
  /** Raw bytes of every request received (head and body). */
  requests: Buffer[];
  connections: number;
  stop(): void;
}

export type RawResponder = (s: Socket<unknown>, request: Buffer, head: string) => void;

export function rawServer(respond: RawResponder): RawServer {
  const self: RawServer = { port: 0, url: "", requests: [], connections: 0, stop: () => {} };
  const listener = Bun.listen<{ buf: Buffer }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "buffer",
      open(s) { s.data = { buf: Buffer.alloc(0) }; self.connections++; },
      data(s, d) {
        let b = Buffer.concat([s.data.buf, d as Buffer]);
        for (;;) {
          const end = b.indexOf("\r\n\r\n");
          if (end === -1) break;
          const head = b.toString("latin1", 0, end);
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          const len = m ? Number(m[1]) : 0;
          if (b.length < end + 4 + len) break;
          const request = Buffer.from(b.subarray(0, end + 4 + len));
          b = Buffer.from(b.subarray(end + 4 + len));
          self.requests.push(request);
          respond(s as unknown as Socket<unknown>, request, head);
        }
        s.data.buf = b;
      },
    },
  });
  self.port = listener.port;
  self.url = `http://127.0.0.1:${listener.port}`;
  self.stop = () => listener.stop(true);
  return self;
}

export function sha256(b: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(b).digest("hex");
}

/** Deterministic pseudo-random bytes. */
export function pseudoRandom(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}
