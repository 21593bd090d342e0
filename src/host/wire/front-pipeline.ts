/**
 * Pipelined requests for a wire handler that opts in (`WireHandler.pipelines`): the requests a client
 * sent back to back are offered as they are read, each with its own WireClient (a QueuedAnswer that
 * keeps its bytes), so their work overlaps (the events store commits them in one group); the answers
 * go out in request order, all of those ready together in one write. One read and one write then
 * carry many exchanges, as a NATS client's many PUBs and the server's acks do.
 *
 * What is pipelined: whole, plain HTTP/1.1 requests (no Upgrade or Expect, no untrusted framing, the body
 * in hand) that the handler takes. The first request that is not stays in the buffer: the connection
 * handles it the ordinary way once every earlier answer is written, so answers never overtake each other.
 * An answer that closes the connection (or a request with Connection: close) ends the pipeline: nothing
 * after it is offered, and requests already offered behind it get no answer (as with any server that
 * closes mid-pipeline; a client that pipelines only what it may send again, as the typed clients do, sends
 * them again).
 */
import { CRLFCRLF, MalformedHead, parseRequestHead, type RequestHead } from "../../lib/http1/head";
import type { PipeLimits, WireBodySink, WireClient, WireHandler } from "../../core/wire";
import { runInRequest } from "../../core/request-context";
import { acceptRequestId } from "../../core/http";
import { HostErrors } from "../../core/errors";
import type { Generation } from "../slot";
import { MAX_HEAD_BYTES, type FrontOptions } from "./front-options";
import { errorBytes, isHostPath } from "./head-rules";
import { WireRequestContext } from "./wire-context";

/** Requests offered ahead of their answers on one connection: bounds what one client holds in flight. */
export const MAX_PIPELINED = 32;

/** What the pipeline needs of its connection (FrontConn). */
export interface PipelineConn {
  readonly ip: string;
  readonly peerId?: string;
  readonly closed: boolean;
  /** The connection's own answer bytes (with its backpressure). */
  write(data: string | Uint8Array): boolean;
  /** Answer bytes wait in the connection's queue (the client is not reading): offer nothing more. */
  readonly backpressured: boolean;
  /** A client certificate revoked since the handshake: the connection must not go on. */
  revoked(): boolean;
  /** Stop: the listener is stopping or the connection is being closed. */
  readonly stopping: boolean;
  abort(): void;
  /** Every offered request is answered and written: `close` ends the connection, else it goes on with what it holds. */
  pipelineSettled(close: boolean): void;
}

/** One pipelined request's WireClient: its answer's bytes wait until every earlier answer is written. */
export class QueuedAnswer implements WireClient {
  onDrain: (() => void) | null = null;
  onClose: (() => void) | null = null;
  readonly chunks: (string | Uint8Array)[] = [];
  finished = false;
  keepAlive = true;
  dead = false;
  private settled = false;

  constructor(private readonly pipeline: Pipeline, private readonly gen: Generation, private readonly ctx: WireRequestContext, private readonly o: FrontOptions) {}

  get closed(): boolean { return this.dead; }
  get peerId(): string | undefined { return this.pipeline.conn.peerId; }

  write(data: string | Uint8Array): boolean {
    if (this.dead || this.finished) return false;
    this.chunks.push(typeof data === "string" ? data : Buffer.from(data)); // the caller may reuse its buffer
    return true;
  }

  done(keepAlive: boolean): void {
    if (this.dead || this.finished) return;
    this.finished = true;
    this.keepAlive = keepAlive;
    this.settle();
    this.pipeline.answered();
  }

  abort(): void { if (!this.dead) this.pipeline.conn.abort(); }
  readonly pipelined = true;
  release(): void {} // never streamed (pipelined): settled at done()
  end(): void { this.done(false); }
  pauseReading(): void {}
  resumeReading(): void {}
  switchProtocols(_peer: { data(bytes: Buffer): void; end(): void }, _limits?: PipeLimits): void { throw new Error("a pipelined wire request cannot switch protocols"); }
  readBody(_sink: WireBodySink): void { throw new Error("a pipelined wire request has its body whole"); }

  /** The connection is gone (or closed before this answer): nothing more is written for it. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.settle();
    const c = this.onClose;
    this.onClose = null;
    if (c !== null && !this.finished) c();
  }

  /** The request no longer counts as in flight (its generation may retire), once. */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.ctx.close(this.o.log, 0);
    this.o.finish(this.gen);
  }
}

export class Pipeline {
  private readonly queue: QueuedAnswer[] = [];
  private pumping = false;
  /** An answer closed the connection: nothing more is offered or written. */
  private closing = false;

  constructor(readonly conn: PipelineConn, private readonly o: FrontOptions) {}

  /** Requests offered and not yet written. */
  get pending(): number { return this.queue.length; }

  /**
   * Offer the requests in `b` from `at` (the first one's head already parsed, when given) while each is
   * pipelinable and taken. Returns where it stopped: the first byte not offered (b.length: all of it).
   */
  pump(b: Buffer, at: number, first?: RequestHead): number {
    this.pumping = true;
    try {
      while (at < b.length && !this.closing && this.queue.length < MAX_PIPELINED && !this.conn.backpressured && !this.conn.stopping && !this.conn.closed) {
        let start = at;
        while (start + 1 < b.length && b[start] === 13 && b[start + 1] === 10) start += 2; // RFC 9112 §2.2
        const end = b.indexOf(CRLFCRLF, start);
        if (end === -1 || end - start > MAX_HEAD_BYTES) break;
        let head: RequestHead;
        if (first !== undefined) { head = first; first = undefined; } else {
          try { head = parseRequestHead(b, start, end); } catch (err) { if (err instanceof MalformedHead) break; throw err; }
        }
        const taken = this.offer(b, head);
        if (taken < 0) break;
        at = taken;
        if (!head.keepAlive) { this.closing = true; break; }
      }
    } finally {
      this.pumping = false;
    }
    return at; // the caller keeps what is left, then flush()es
  }

  /** Offer one request; returns the offset after its body, or -1 when it is not pipelined (left where it is). */
  private offer(b: Buffer, head: RequestHead): number {
    const bodyEnd = head.bodyStart + Math.max(0, head.contentLength);
    if (head.minor !== 1 || head.framing !== undefined || head.special || head.chunked || bodyEnd > b.length || isHostPath(head.target)) return -1;
    const slot = this.o.slot;
    const gen = slot.gen;
    const wire: WireHandler | undefined = gen.instance.wire;
    if (slot.closing || wire === undefined || wire.pipelines !== true || this.conn.revoked()) return -1;
    head.body = head.contentLength > 0 ? b.subarray(head.bodyStart, bodyEnd) : null;
    head.clientIp = this.conn.ip;
    const ctx = new WireRequestContext(head, this.o.log);
    const answer = new QueuedAnswer(this, gen, ctx, this.o);
    gen.inflight++;
    this.queue.push(answer); // before the call: a handler may answer at once
    let taken: boolean;
    try {
      taken = runInRequest(ctx, wire, head, answer);
    } catch (err) {
      this.o.log.error("wire handler threw", { err, request_id: ctx.id(), trace_id: ctx.trace() });
      answer.write(errorBytes(500, "Internal Server Error", "HOST_ERR_INTERNAL", HostErrors.specs.HOST_ERR_INTERNAL.message, acceptRequestId(head.headers.get("x-request-id"))));
      answer.done(false);
      return bodyEnd;
    }
    if (taken) return bodyEnd;
    this.queue.pop(); // declined: the ordinary path takes it once the answers before it are out
    answer.kill();
    return -1;
  }

  /** An answer is complete (QueuedAnswer.done). */
  answered(): void {
    if (!this.pumping) this.flush(); // during pump() the caller flushes once it is done
  }

  /** Write every complete answer at the head of the queue, in one write; settle the connection when none is owed. */
  flush(): void {
    const q = this.queue;
    let n = 0;
    let close = false;
    while (n < q.length && q[n].finished) { if (!q[n].keepAlive) { close = true; n++; break; } n++; }
    if (n > 0) {
      const out = q.splice(0, n);
      if (!this.conn.closed) this.conn.write(joined(out));
    }
    if (close) { this.closing = true; for (const a of q.splice(0)) a.kill(); }
    if (q.length === 0) this.conn.pipelineSettled(this.closing);
  }

  /** The connection closed: every answer still owed is dropped. */
  closeAll(): void {
    this.closing = true;
    for (const a of this.queue.splice(0)) a.kill();
  }
}

/** The answers' bytes as one write (strings go out UTF-8 encoded, as the socket writes them). */
function joined(answers: QueuedAnswer[]): string | Uint8Array {
  let text = "";
  let strings = true;
  for (const a of answers) for (const c of a.chunks) { if (typeof c !== "string") { strings = false; break; } }
  if (strings) { for (const a of answers) for (const c of a.chunks) text += c as string; return text; }
  const parts: Uint8Array[] = [];
  for (const a of answers) for (const c of a.chunks) parts.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(parts);
}
