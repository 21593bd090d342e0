/**
 * The publish hot path of the fetch lane, outside Elysia's router: POST /events is matched with a
 * string compare and answered by publish-request.ts (the contract both lanes share); every other
 * request goes to the Elysia app. On a plain-HTTP port most publishes take the raw lane instead
 * (publish-wire.ts); this one serves TLS ports and bodies the raw lane declines (chunked, split).
 */
import type { AnyElysia } from "elysia";
import { EventErrors } from "./errors";
import { readBody } from "./limits";
import { answerFields, publishBodyLimit, type PublishRequest } from "./publish-request";
import type { EventsConfig } from "./schema";

/** True for exactly "/events" (a query string allowed) at `from` in `s`. */
export function isPublishPath(s: string, from: number): boolean {
  return s.startsWith("/events", from) && (s.length === from + 7 || s.charCodeAt(from + 7) === 63);
}

export function createPublishFetch(app: AnyElysia, publishRequest: PublishRequest, cfg: EventsConfig) {
  const appFetch = (req: Request) => app.handle(req);
  const { limit, name } = publishBodyLimit(cfg);
  return (req: Request): Response | Promise<Response> => {
    if (req.method === "POST") {
      const url = req.url;
      if (isPublishPath(url, url.indexOf("/", url.indexOf("//") + 2))) {
        return new Promise((resolve) => publishRequest(req.headers, {
          read: () => readBody(req, limit, EventErrors.EV_ERR_BODY_TOO_LARGE, name),
          answer: (a) => resolve(new Response(a.body, { status: a.status, headers: answerFields(a) })),
        }));
      }
    }
    return appFetch(req);
  };
}
