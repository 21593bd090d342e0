/**
 * GET /events/subscribe on the host's raw HTTP/1.1 lane (plugin serve.wire): the SSE stream is written
 * straight to the client's socket, one chunk per store read, instead of through the tunnel to Bun.serve
 * (an extra send, receive and wake-up per event). The checks and refusals are the fetch lane's
 * (subscribe-open.ts); the stream is the same Subscription. What it declines goes to the Elysia route
 * unchanged: other paths ("/events/subscribe/" too), HEAD, requests with a body, HTTP/1.0, TLS ports,
 * and a subscribe pipelined behind other requests (the front holds a pipelined answer until done()).
 */
import { writeWireAnswer } from "../../src/lib/http1/wire-answer";
import { dateLine } from "../../src/lib/http1/date";
import { acceptRequestId } from "../../src/core/http";
import type { WireClient, WireHandler, WireRequest } from "../../src/core/wire";
import { SSE_HEADERS, type SseSink } from "./subscribe";
import { openSubscription, type SubscribeDeps } from "./subscribe-open";
import { wireRefusal } from "./ack";

const PATH = "/events/subscribe";
const NON_ASCII = /[^\x00-\x7f]/;
const LAST_CHUNK = "0\r\n\r\n";
let fixedFields = "";
for (const name in SSE_HEADERS) fixedFields += name + ": " + SSE_HEADERS[name] + "\r\n";

/** The stream as chunked HTTP/1.1 on the client's socket, with its backpressure (WireClient.onDrain). */
export class WireSseSink implements SseSink {
  private head: string | null;
  private waiting: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private ended = false;

  /** `head`: the answer's head, sent with the first chunk (one write for both). */
  constructor(private readonly client: WireClient, head: string, private readonly keepAlive: boolean) {
    this.head = head;
  }

  write(text: string): void {
    const c = this.client;
    if (this.ended || c.closed) return;
    const head = this.head ?? "";
    this.head = null;
    // All-ASCII (the usual JSON) goes out as one string; otherwise the chunk is sized in UTF-8 bytes.
    let out: string | Uint8Array;
    if (!NON_ASCII.test(text)) out = head + text.length.toString(16) + "\r\n" + text + "\r\n";
    else {
      const body = Buffer.from(text, "utf8");
      out = Buffer.concat([Buffer.from(head + body.byteLength.toString(16) + "\r\n", "latin1"), body, Buffer.from("\r\n")]);
    }
    if (!c.write(out) && this.waiting === null) {
      this.waiting = new Promise((resolve) => (this.wake = resolve));
      c.onDrain = () => this.caughtUp();
    }
  }

  behind(): Promise<void> | undefined {
    return this.waiting ?? undefined;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const c = this.client;
    if (!c.closed) {
      if (this.head !== null) c.write(this.head); // closed before its first chunk
      c.write(LAST_CHUNK);
      c.done(this.keepAlive);
    }
    this.caughtUp();
  }

  private caughtUp(): void {
    const wake = this.wake;
    this.waiting = null;
    this.wake = null;
    if (wake !== null) wake();
  }
}

export function createSubscribeWire(d: SubscribeDeps): WireHandler {
  return (req: WireRequest, client: WireClient): boolean => {
    if (req.method !== "GET" || req.special || req.framing !== undefined || req.chunked || req.contentLength > 0) return false;
    if (client.pipelined === true || client.peerId !== undefined) return false;
    const t = req.target;
    if (!t.startsWith(PATH) || (t.length !== PATH.length && t.charCodeAt(PATH.length) !== 63 /* ? */)) return false;
    const requestId = acceptRequestId(req.headers.get("x-request-id"));
    const { keepAlive, method } = req;
    // The query as the fetch lane reads it (the URL parser of the Request Bun.serve would build).
    openSubscription(d, new URL(t, "http://h").searchParams).then((sub) => {
      if (client.closed) { sub.close(); return; }
      const head = "HTTP/1.1 200 OK\r\n" + fixedFields + "x-request-id: " + requestId + "\r\n" + dateLine() + (keepAlive ? "" : "connection: close\r\n") + "transfer-encoding: chunked\r\n\r\n";
      client.onClose = () => sub.close();
      client.release(); // a stream, not a request in flight: a reload does not wait for it (the plugin's stop ends it)
      sub.start(new WireSseSink(client, head, keepAlive));
    }, (err) => {
      if (!client.closed) writeWireAnswer(client, wireRefusal(err, requestId, d.log, PATH), keepAlive, method);
    });
    return true;
  };
}

/** The plugin's raw lane: publishes first (publish-wire.ts), then the others; pipelined as the publish handler is. */
export function eventsWire(publish: WireHandler, ...others: WireHandler[]): WireHandler {
  // A loop, not others.some(closure): a subscriber's acks come this way, one closure and scope each.
  const handler = (req: WireRequest, client: WireClient): boolean => {
    if (publish(req, client)) return true;
    for (let i = 0; i < others.length; i++) if (others[i](req, client)) return true;
    return false;
  };
  return Object.assign(handler, { pipelines: publish.pipelines });
}
