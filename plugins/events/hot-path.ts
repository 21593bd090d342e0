/**
 * The publish hot path, outside Elysia's router: POST /events is matched with a string compare and
 * handled here (parse → validate with precompiled checks → store); every other request goes to the
 * Elysia app. Same contract as the Elysia route: coded JSON errors, X-Request-Id echoed.
 */
import type { AnyElysia } from "elysia";
import { CodedError, jsonError } from "../../src/core/errors";
import type { Logger } from "../../src/core/log";
import { hasExplicitIds, type Publisher } from "./publisher";
import type { EventsConfig } from "./schema";

const REQUEST_ID_RE = /^[A-Za-z0-9._:\-]{1,128}$/;

function isBatch(body: unknown): boolean {
  return Array.isArray(body) || (!!body && typeof body === "object" && Array.isArray((body as any).events) && !("type" in (body as any)));
}

export function createPublishFetch(app: AnyElysia, publisher: Publisher, cfg: EventsConfig, log: Logger) {
  const appFetch = (req: Request) => app.handle(req);

  async function publish(req: Request): Promise<Response> {
    const given = req.headers.get("x-request-id");
    let requestId = given && REQUEST_ID_RE.test(given) ? given : undefined;
    try {
      let body: unknown;
      try {
        body = await req.json();
      } catch {
        return jsonError(400, "EV_ERR_PARSE", "request body could not be parsed", undefined, undefined, { "x-request-id": requestId ?? crypto.randomUUID() });
      }
      const events = publisher.parseBody(body, { source: req.headers.get("x-event-source") ?? cfg.default_source, correlationId: req.headers.get("x-correlation-id") ?? requestId });
      const key = publisher.checkIdempotencyKey(req.headers.get("idempotency-key"));
      const r = await publisher.publish(events, key, hasExplicitIds(body));
      requestId ??= events[0].id;
      const out = events.length > 1 || isBatch(body)
        ? JSON.stringify({ count: events.length, ids: events.map((e) => e.id), streamIds: r.streamIds, duplicate: r.duplicate })
        : `{"id":${JSON.stringify(events[0].id)},"streamId":"${r.streamIds[0]}","duplicate":${r.duplicate}}`;
      return new Response(out, { status: 201, headers: { "content-type": "application/json", "x-request-id": requestId } });
    } catch (err) {
      const headers = { "x-request-id": requestId ?? crypto.randomUUID() };
      if (err instanceof CodedError) return err.toResponse(headers);
      log.error("publish failed", { err });
      return jsonError(500, "EV_ERR_INTERNAL", "internal error", undefined, undefined, headers);
    }
  }

  return (req: Request): Response | Promise<Response> => {
    if (req.method === "POST") {
      const url = req.url;
      const p = url.indexOf("/", url.indexOf("//") + 2);
      // exactly "/events" (a query string allowed)
      if (url.startsWith("/events", p) && (url.length === p + 7 || url.charCodeAt(p + 7) === 63)) return publish(req);
    }
    return appFetch(req);
  };
}
