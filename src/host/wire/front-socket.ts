/**
 * The socket side of a front connection: bytes held in (a partial head, requests pipelined behind the
 * current one), bytes queued out while the socket would block (backpressure both ways), and the byte pipe
 * an upgraded connection becomes. FrontConn (front-conn.ts) extends it with the HTTP/1.1 exchanges.
 * A base class rather than a collaborator: every write stays a direct call on one object, with no extra
 * allocation or hop per connection, request or chunk.
 */
import type { Socket } from "bun";
import type { PipeLimits } from "../../core/wire";
import { WsPipeClose, type PipePeer } from "./ws-pipe-close";
import { MAX_BUFFERED } from "./front-options";
import type { FrontConn } from "./front-conn";

export abstract class FrontSocket {
  onDrain: (() => void) | null = null;
  closed = false;
  /** Bytes received but not yet taken (a partial head, or requests pipelined behind the current one). */
  protected buf: Buffer | null = null;
  protected readPaused = false;
  /** Answer bytes the socket has not taken yet (null: nothing waits). */
  protected out: Uint8Array[] | null = null;
  private endAfterFlush = false;
  /** When buffered answer bytes last moved to the socket. */
  private flushedAt = 0;
  /** A pipelined request waits for the previous answer to be flushed. */
  protected nextAfterFlush = false;
  /** Set after switchProtocols: the connection is a byte pipe. */
  protected raw: PipePeer | null = null;
  /** Last byte either way through the pipe (the idle timeout of an upgraded connection). */
  protected rawActiveAt = 0;
  /** A WebSocket pipe: frame boundaries each way, so a retiring port can close it with a Close frame. */
  ws: WsPipeClose | null = null;
  /** The route's idle limit of an upgraded connection (undefined: the listener's). */
  rawIdleMs: number | undefined = undefined;

  constructor(readonly socket: Socket<FrontConn>) {}

  /** Take the next pipelined request (once the previous answer is flushed). */
  protected abstract next(): void;
  /** Read nothing more as HTTP, and close once what is queued is written. */
  abstract end(): void;

  // ---- bytes in -----------------------------------------------------------------------------------

  /** `b` from `at` on, to keep: a view when `b` is ours (`owned`), else a copy (the socket reuses its read buffer). */
  protected static rest(b: Buffer, at: number, owned: boolean): Buffer {
    return owned ? b.subarray(at) : Buffer.from(b.subarray(at));
  }

  protected hold(data: Buffer): void {
    this.buf = this.buf === null ? Buffer.from(data) : Buffer.concat([this.buf, data]);
    if (this.buf.length > MAX_BUFFERED) this.pauseReading();
  }

  pauseReading(): void {
    if (!this.readPaused) { this.readPaused = true; this.socket.pause(); }
  }

  resumeReading(): void {
    if (this.readPaused && !this.closed) { this.readPaused = false; this.socket.resume(); }
  }

  /** Reads held for the end of the turn (src/lib/turn-queue.ts, front.ts). */
  heldReads = 0;
  heldPaused = false;
  /** socket.end() was called: nothing more is read from it. */
  private ended = false;
  /** The turn's pause is over: read again, unless this connection paused reading itself or was ended. */
  resumeHeld(): void {
    if (!this.readPaused && !this.closed && !this.ended) this.socket.resume();
  }

  // ---- bytes out (WireClient / TunnelClient) ------------------------------------------------------

  /** Bytes the socket did not take are copied: callers may reuse their buffer as soon as this returns. */
  write(data: string | Uint8Array): boolean {
    if (this.ws !== null && !this.closed) return this.ws.toClient(typeof data === "string" ? Buffer.from(data, "latin1") : data);
    return this.writeRaw(data);
  }

  /** write() without the WebSocket pipe's frame tracking (the tracker's own way out). */
  writeRaw(data: string | Uint8Array): boolean {
    if (this.closed) return false;
    if (this.raw !== null) this.rawActiveAt = Date.now();
    if (this.out !== null) { this.out.push(typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data)); return false; }
    const len = typeof data === "string" ? data.length : data.byteLength;
    const n = this.socket.write(data);
    if (n >= len) return true;
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    this.out = [Buffer.from(bytes.subarray(Math.max(0, n)))];
    this.flushedAt = Date.now();
    return false;
  }

  onWritable(): void {
    const out = this.out;
    if (out === null) return;
    while (out.length > 0) {
      const chunk = out[0];
      const n = this.socket.write(chunk);
      if (n > 0) this.flushedAt = Date.now();
      if (n < chunk.byteLength) { out[0] = chunk.subarray(Math.max(0, n)); return; }
      out.shift();
    }
    this.out = null;
    if (this.endAfterFlush) { this.ended = true; this.socket.end(); return; }
    const d = this.onDrain;
    if (d !== null) { this.onDrain = null; d(); }
    if (this.nextAfterFlush) { this.nextAfterFlush = false; this.next(); }
  }

  protected closeAfterFlush(): void {
    if (this.out === null) { this.ended = true; this.socket.end(); }
    else this.endAfterFlush = true;
  }

  /** An answer waits to be written and the client has taken none of it for `ms` (it stopped reading). */
  writeStalledFor(ms: number): boolean { return this.out !== null && this.raw === null && Date.now() - this.flushedAt >= ms; }

  // ---- the byte pipe after a protocol switch ------------------------------------------------------

  /**
   * From now on bytes go straight between the client and `peer`; `early`: what the client sent after the
   * upgrade request, which already belongs to the new protocol.
   */
  protected startPipe(peer: PipePeer, limits: PipeLimits, websocket: boolean, early: Buffer | null): void {
    this.raw = peer;
    this.rawActiveAt = Date.now();
    if (limits.idleTimeoutMs !== undefined) {
      this.rawIdleMs = limits.idleTimeoutMs;
      this.socket.timeout(Math.max(1, Math.ceil(limits.idleTimeoutMs / 1000)));
    }
    if (websocket) this.ws = new WsPipeClose(this, peer, limits.maxMessageBytes ?? 0);
    if (early !== null && early.length > 0) { if (this.ws !== null) this.ws.fromClient(early); else peer.data(early); }
    this.resumeReading();
  }

  /** A byte pipe after a protocol switch (WebSocket...). */
  get upgraded(): boolean { return this.raw !== null && !this.closed; }

  /** End an upgraded connection: a WebSocket with Close frames both ways (code, reason), anything else by closing. */
  goAway(code: number, reason: string): void {
    if (this.ws !== null) this.ws.close(code, reason);
    else if (this.raw !== null) { this.raw.end(); this.end(); }
  }

  /** An upgraded connection with no byte either way for `ms`. */
  rawIdleFor(ms: number): boolean { return this.raw !== null && Date.now() - this.rawActiveAt >= ms; }
}
