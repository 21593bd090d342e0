/**
 * POST /events on the host's raw HTTP/1.1 lane (plugin serve.wire): a publish whose body arrived whole
 * with its head is answered as bytes, without a Request or a Response object, by the same
 * publish-request.ts as the fetch lane. Everything else (other routes and methods, SSE subscriptions,
 * chunked or split bodies, Expect, Upgrade, untrusted framing) is declined and tunnelled to Bun.serve
 * and the Elysia app unchanged.
 */
import { writeWireAnswer } from "../../src/lib/http1/wire-answer";
import type { WireClient, WireHandler, WireRequest } from "../../src/core/wire";
import { EventErrors } from "./errors";
import { isPublishPath } from "./hot-path";
import { wholeBody } from "./limits";
import { publishBodyLimit, type PublishAnswer, type PublishExchange, type PublishRequest } from "./publish-request";
import type { Body } from "./limits";
import type { EventsConfig } from "./schema";

const JSON_AND_ID = "content-type: application/json\r\nx-request-id: ";

/** A raw-lane publish: its body as it came with the head, its answer written as bytes. */
class WirePublish implements PublishExchange {
  private readonly keepAlive: boolean;
  private readonly method: string;
  constructor(private readonly req: WireRequest, private readonly client: WireClient, private readonly limit: { limit: number; name: string }) {
    this.keepAlive = req.keepAlive;
    this.method = req.method;
  }

  read(): Body {
    return wholeBody(this.req.contentLength, this.req.body, this.limit.limit, EventErrors.EV_ERR_BODY_TOO_LARGE, this.limit.name);
  }

  answer(a: PublishAnswer): void {
    const client = this.client;
    if (client.closed) return;
    // A 201's fields as one line (the fields a refusal carries go through writeWireAnswer's checks).
    const answer = a.headers === undefined ? { status: a.status, body: a.body, lines: JSON_AND_ID + a.requestId + "\r\n" } : { status: a.status, body: a.body, fields: a.headers };
    try { writeWireAnswer(client, answer, this.keepAlive, this.method); } catch { client.abort(); }
  }
}

export function createPublishWire(publishRequest: PublishRequest, cfg: EventsConfig): WireHandler {
  const limit = publishBodyLimit(cfg);
  const handler = (req: WireRequest, client: WireClient): boolean => {
    if (req.method !== "POST" || req.special || req.framing !== undefined || req.chunked) return false;
    if (req.contentLength > 0 && req.body === null) return false; // the rest of the body is still on its way
    if (!isPublishPath(req.target, 0)) return false;
    // publishRequest calls read() before its first await, so the body's bytes (the connection's buffer,
    // reused once this returns) are decoded in time.
    publishRequest(req.headers, new WirePublish(req, client, limit));
    return true;
  };
  // A client's pipelined publishes are taken as they are read: their appends share a group commit and
  // their answers one write (src/host/wire/front-pipeline.ts).
  return Object.assign(handler, { pipelines: true });
}
