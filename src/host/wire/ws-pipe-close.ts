/**
 * A proxied WebSocket is a byte pipe (the front never parses its frames to relay them), but a port that
 * retires must still end it the way RFC 6455 §7 expects: a Close frame with a code and a reason to each
 * side, never a cut TCP connection (1006 for the client). This follows frame boundaries both ways and
 * injects the two Close frames only between frames.
 */
import { WS_MESSAGE_TOO_BIG, WsFrameCursor, wsCloseFrame } from "../../lib/http1/ws-frames";

/** The client side of the pipe: write bypassing this hook, and a close once flushed. */
export interface PipeClient { writeRaw(data: Uint8Array): boolean; end(): void }
/** The upstream side: bytes toward it, and drop it. */
export interface PipePeer { data(bytes: Buffer): void; end(): void }

/** After both Close frames, how long the peers get to answer theirs before both connections end. */
const CLOSE_WAIT_MS = 1000;
/** Longest wait for a frame boundary (a frame still streaming) before the pipe is simply ended. */
const BOUNDARY_WAIT_MS = 2000;

export class WsPipeClose {
  private readonly toClientFrames = new WsFrameCursor();
  private readonly toUpstreamFrames: WsFrameCursor;
  private closing: { code: number; reason: string } | null = null;
  private sentToClient = false;
  private sentToUpstream = false;
  private timer: Timer | null = null;
  private ended = false;

  /** `maxMessageBytes`: a larger client message ends the pipe with 1009 (0: no limit). */
  constructor(private readonly client: PipeClient, private readonly upstream: PipePeer, maxMessageBytes = 0) {
    this.toUpstreamFrames = new WsFrameCursor(maxMessageBytes);
  }

  /** Client bytes toward the upstream (all of them pass through here while the pipe is a WebSocket). */
  fromClient(bytes: Buffer): void {
    if (this.sentToUpstream) { this.end(); return; } // the client's answering Close (or a late frame): over
    const wasBetweenFrames = this.toUpstreamFrames.atBoundary;
    this.toUpstreamFrames.feed(bytes);
    if (this.toUpstreamFrames.overLimit) {
      // Nothing of this read goes upstream. Between frames the upstream gets a proper Close; inside a frame
      // (its header came in an earlier read) only the connection's end can stop it.
      this.sentToUpstream = true;
      if (wasBetweenFrames) this.upstream.data(wsCloseFrame(WS_MESSAGE_TOO_BIG, "message too big", true));
      else this.upstream.end();
      this.closing = null;
      this.close(WS_MESSAGE_TOO_BIG, "message too big");
      return;
    }
    this.upstream.data(bytes);
    if (this.closing !== null) this.step();
  }

  /** Upstream bytes toward the client; after our Close nothing more may follow it (RFC 6455 §5.5.1). */
  toClient(bytes: Uint8Array): boolean {
    if (this.sentToClient) return true;
    this.toClientFrames.feed(bytes);
    const ok = this.client.writeRaw(bytes);
    if (this.closing !== null) this.step();
    return ok;
  }

  /** Close both sides with `code` and `reason` as soon as each direction is between frames. */
  close(code: number, reason: string): void {
    if (this.closing !== null || this.ended) return;
    this.closing = { code, reason };
    this.timer = setTimeout(() => this.end(), BOUNDARY_WAIT_MS);
    this.step();
  }

  get closed(): boolean { return this.ended; }

  private step(): void {
    const c = this.closing!;
    if (!this.sentToClient && this.toClientFrames.atBoundary) {
      this.sentToClient = true;
      this.client.writeRaw(wsCloseFrame(c.code, c.reason, false));
    }
    if (!this.sentToUpstream && this.toUpstreamFrames.atBoundary) {
      this.sentToUpstream = true;
      this.upstream.data(wsCloseFrame(c.code, c.reason, true));
    }
    if (this.sentToClient && this.sentToUpstream) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.end(), CLOSE_WAIT_MS);
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.upstream.end();
    this.client.end();
  }
}
