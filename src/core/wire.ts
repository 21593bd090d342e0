/**
 * The raw HTTP/1.1 fast path a plugin may offer next to its fetch handler (plugin `serve.wire`).
 * The host's front listener parses each request head itself and offers it to the plugin's
 * WireHandler first; the handler answers by writing bytes to the client, or declines and the
 * request goes to the plugin's ordinary fetch handler (through Bun.serve) unchanged.
 */
import type { RequestHead } from "../lib/http1/head";

/** A parsed request head with `body` (when it arrived whole with the head) and `clientIp` filled in. */
export type WireRequest = RequestHead;

/** The client connection, as far as one response is concerned. */
export interface WireClient {
  /** Queue bytes to the client; false when they were buffered (wait for onDrain before writing more). The caller may reuse `data` once this returns. */
  write(data: string | Uint8Array): boolean;
  /** Called once the buffered bytes are flushed (set it after a write returned false). */
  onDrain: (() => void) | null;
  /** Called if the client goes away before done(). */
  onClose: (() => void) | null;
  readonly closed: boolean;
  /** The response is complete; keepAlive false closes the connection once the bytes are flushed. */
  done(keepAlive: boolean): void;
  /** The response cannot be completed (upstream cut it short): drop the connection so the client sees it. */
  abort(): void;
  /** Platform mTLS: the SPIFFE ID of the client's certificate ("" when it has none); undefined without TLS. */
  readonly peerId?: string;
  /**
   * After a 101 written to the client: the connection stops being HTTP. Every later byte from the
   * client goes to `peer.data` (raw, in order), `peer.end` when the client goes away; write() keeps
   * sending to the client and end() closes it. The request stops counting as in flight.
   */
  switchProtocols(peer: { data(bytes: Buffer): void; end(): void }, limits?: PipeLimits): void;
  /** Stop / resume reading from the client (backpressure from whoever takes its bytes). */
  pauseReading(): void;
  resumeReading(): void;
  /** Close the connection once what was written is flushed. */
  end(): void;
  /**
   * A long-lived answer (an event stream) has begun: the request stops counting as in flight, so a reload
   * need not wait for it (the plugin's stop ends it), as with a fetch-lane stream once its Response is returned.
   */
  release(): void;
  /** True for a request offered pipelined (WireHandler.pipelines): its answer is held until done(), so it cannot stream. */
  readonly pipelined?: boolean;
  /**
   * Streaming handlers only (`WireHandler.streamsBodies`), for a request whose body did not come whole
   * (`req.body` null with `req.chunked` or `req.contentLength > 0`): start delivering it to `sink`. Until
   * this is called the front reads nothing more from the client; with `Expect: 100-continue` it sends the
   * interim 100 here, so a request answered without reading its body never makes the client send it.
   * Answering (done) before the body was read whole: what is left of it is read and thrown away (up to
   * 1 MiB, then the connection closes; a client never sent its 100 is closed at once).
   */
  readBody(sink: WireBodySink): void;
}

/** Where a streamed request body goes (WireClient.readBody). */
export interface WireBodySink {
  /**
   * Body data with the framing removed (chunk sizes, extensions and trailer fields are dropped: a
   * handler that forwards the body frames it again itself). The front never reuses `bytes`: it may be
   * kept. Return false to stop reading from the client until client.resumeReading() (backpressure).
   */
  data(bytes: Uint8Array): boolean;
  /** The body is complete (the next bytes on the connection are the next request). */
  end(): void;
  /**
   * The chunked framing is malformed: nothing more is delivered and the connection closes after the
   * answer; the handler answers (400) unless it has begun one. A client that goes away or stalls mid-body
   * is told through client.onClose instead.
   */
  fail(message: string): void;
}

/**
 * Returns true when it took the request (and will call client.done), false to pass it to the fetch
 * handler. Called for HTTP/1.1 requests with no body, a body that arrived whole with the head, or
 * framing the host could not trust (then `framing` is set and the connection is closed after the
 * answer); with Upgrade (req.upgrade set, no body) too, never with Expect.
 *
 * Opt-in `streamsBodies: true` (the gateway's): also offered requests whose body streams (chunked, or a
 * Content-Length larger than what came with the head; read with client.readBody) and requests with
 * `Expect: 100-continue` (and no other expectation, no Upgrade). Without it a handler is only ever
 * offered whole bodies, as before: the rest goes to the fetch handler.
 */
export interface WireHandler {
  (req: WireRequest, client: WireClient): boolean;
  readonly streamsBodies?: boolean;
  /**
   * Opt-in: also offered HTTP/1.0 requests (`req.minor` 0: never chunked; an Expect is ignored, no 100 is
   * sent; its answer must not be chunked). Without it they go to the fetch handler.
   */
  readonly takesHttp10?: boolean;
  /**
   * Opt-in: requests a client pipelines (several on a connection before any answer) are offered as they
   * are read, each with its own WireClient, without waiting for the earlier answers; the front writes the
   * answers in request order, the ones ready together in one write. Such a handler answers only by
   * write() and done() (or abort()): no switchProtocols, readBody or pause/resume. Only whole, plain
   * HTTP/1.1 requests are pipelined; anything else waits until every earlier answer is out.
   */
  readonly pipelines?: boolean;
}

/** Limits of an upgraded connection, per route. */
export interface PipeLimits {
  /** Closed after this long with no byte either way (default: the listener's idle timeout). */
  idleTimeoutMs?: number;
  /** WebSocket: a client message larger than this closes the connection with 1009 (0: no limit). */
  maxMessageBytes?: number;
}
