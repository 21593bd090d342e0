/**
 * The intake on the host's raw HTTP/1.1 lane (plugin serve.wire): a POST / or /falco/alerts whose body
 * arrived whole with its head is parsed, ingested and answered as bytes, without a Request or a
 * Response object. Everything else (chunked or split bodies, other paths, TLS ports) is declined and
 * takes the ordinary fetch lane, which gives the same answers.
 */
import { STATUS_CODES } from "node:http";
import { dateLine } from "../../src/lib/http1/date";
import { acceptRequestId } from "../../src/core/http";
import type { WireHandler } from "../../src/core/wire";
import type { createIntake } from "./intake";

const NON_ASCII = /[^\x00-\x7f]/;

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
    const head = "HTTP/1.1 " + a.status + " " + STATUS_CODES[a.status] + "\r\ncontent-type: application/json\r\nx-request-id: " + requestId + "\r\n" + dateLine()
      + (req.keepAlive ? "" : "connection: close\r\n") + "content-length: ";
    // The client writes strings as latin1 bytes: one string write for an ASCII body (the usual answer), bytes otherwise.
    if (!NON_ASCII.test(a.body)) client.write(head + a.body.length + "\r\n\r\n" + a.body);
    else {
      const bytes = Buffer.from(a.body, "utf8");
      client.write(Buffer.concat([Buffer.from(head + bytes.byteLength + "\r\n\r\n", "latin1"), bytes]));
    }
    client.done(req.keepAlive);
    return true;
  };
}
