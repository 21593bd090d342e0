/**
 * The intake on the host's raw HTTP/1.1 lane (plugin serve.wire): a POST / or /falco/alerts whose body
 * arrived whole with its head is parsed, ingested and answered as bytes, without a Request or a
 * Response object. Everything else (chunked or split bodies, other paths, TLS ports) is declined and
 * takes the ordinary fetch lane, which gives the same answers.
 */
import { writeWireAnswer } from "../../src/lib/http1/wire-answer";
import { acceptRequestId } from "../../src/core/http";
import type { WireHandler } from "../../src/core/wire";
import type { createIntake } from "./intake";

export function createWireIntake(intake: ReturnType<typeof createIntake>): WireHandler {
  return (req, client) => {
    if (req.method !== "POST" || req.special || req.framing !== undefined || req.chunked) return false;
    const t = req.target;
    const q = t.indexOf("?");
    const path = q < 0 ? t : t.slice(0, q);
    if (path !== "/" && path !== "/falco/alerts") return false;
    if (req.contentLength > 0 && req.body === null) return false;
    const h = req.headers;
    const a = intake.alertsWhole(t, h, req.body, Math.max(0, req.contentLength));
    const requestId = acceptRequestId(h.get("x-request-id"));
    writeWireAnswer(client, { status: a.status, body: a.body, lines: "content-type: application/json\r\nx-request-id: " + requestId + "\r\n" }, req.keepAlive, req.method);
    return true;
  };
}
