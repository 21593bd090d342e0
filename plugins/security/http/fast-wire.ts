/**
 * The hot endpoints on the host's raw HTTP/1.1 lane (plugin serve.wire): POST /tokens/validate with its
 * body whole in hand and GET /secrets/<path> are answered from fast-path.ts's core and written as bytes
 * (writeWireAnswer), without a Request or a Response; the answer leaves only once its audit line is
 * written (audit-gate.ts). Everything else is declined and takes the fetch lane unchanged: other
 * methods and paths, HEAD, chunked or split bodies, Upgrade/Expect, bodies over the plugin's limit, and
 * paths a URL parser would rewrite (dot segments, "%2e", characters it percent-encodes), so both lanes
 * see the same path.
 */
import { writeWireAnswer } from "../../../src/lib/http1/wire-answer";
import { acceptRequestId } from "../../../src/core/http";
import type { WireClient, WireHandler, WireRequest } from "../../../src/core/wire";
import type { AuditLog } from "../../../src/lib/audit/log";
import { afterAudit, auditRefusal } from "./audit-gate";
import { errorAnswer, type Answer, type Caller, type FastPath } from "./fast-path";

const SECRETS = "/secrets/";
/** A path the fetch lane's URL parser keeps byte for byte (no character it would percent-encode)... */
const KEPT_AS_IS = /^[A-Za-z0-9_.@:+=,\-\/%~!$&'()*;]*$/;
/** ...and no dot segment it would resolve (also written "%2e"). */
const DOT_SEGMENT = /\/\.|%2e/i;
const refusal = () => errorAnswer(auditRefusal());

export function createFastWire(fast: FastPath, audit: AuditLog, bodyLimit: number): WireHandler {
  const utf8 = new TextDecoder(); // strips a BOM like Request.text()
  const gate = afterAudit<Waiting>(audit, (w, audited) => write(w.req, w.client, w.requestId, audited ? w.a : refusal()));
  const handler = (req: WireRequest, client: WireClient): boolean => {
    if (req.special || req.framing !== undefined || req.chunked) return false;
    const t = req.target;
    const q = t.indexOf("?");
    const path = q < 0 ? t : t.slice(0, q);
    const method = req.method;
    if (method === "POST" && path === "/tokens/validate") {
      if (req.contentLength > bodyLimit || (req.contentLength > 0 && req.body === null)) return false;
      const c = callerOf(req, client);
      send(req, client, c.requestId, fast.validate(c, req.body === null ? "" : utf8.decode(req.body)));
      return true;
    }
    if (method === "GET" && path.startsWith(SECRETS) && req.contentLength <= 0 && KEPT_AS_IS.test(path) && !DOT_SEGMENT.test(path)) {
      const c = callerOf(req, client);
      const a = fast.readSecret(c, path.slice(SECRETS.length), q < 0 ? undefined : new URLSearchParams(t.slice(q + 1)));
      if (a instanceof Promise) a.then((b) => send(req, client, c.requestId, b));
      else send(req, client, c.requestId, a);
      return true;
    }
    return false;
  };
  // Pipelined validations and reads are taken as they are read: they share an audit batch, and their
  // answers one write (src/host/wire/front-pipeline.ts).
  return Object.assign(handler, { pipelines: true });

  function send(req: WireRequest, client: WireClient, requestId: string, a: Answer): void {
    gate({ req, client, requestId, a });
  }
}

/** An answer waiting for its audit batch. */
interface Waiting { req: WireRequest; client: WireClient; requestId: string; a: Answer }

function callerOf(req: WireRequest, client: WireClient): Caller {
  const h = req.headers;
  return { authorization: h.get("authorization"), peerId: client.peerId, requestId: acceptRequestId(h.get("x-request-id")) };
}

function write(req: WireRequest, client: WireClient, requestId: string, a: Answer): void {
  if (client.closed) return; // the client went away: the front has ended the exchange
  writeWireAnswer(client, { status: a.status, body: a.body, lines: "content-type: application/json\r\nx-request-id: " + requestId + "\r\n", fields: a.fields }, req.keepAlive, req.method);
}
