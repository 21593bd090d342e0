/**
 * The two hot endpoints, POST /tokens/validate and GET /secrets/<path>, written once for both lanes:
 * the fetch lane (Request → Response, outside Elysia's router: fetchFastPath) and the host's raw
 * HTTP/1.1 lane (fast-wire.ts). The core takes what a caller presents and answers status + JSON text;
 * authentication, coded errors, audit and metrics happen here, so both lanes answer alike.
 */
import { CodedError } from "../../../src/core/errors";
import { requestIdOf } from "../../../src/core/http";
import { peerIdentity } from "../../../src/core/peer-identity";
import { SecErrors } from "../errors";
import { audit, authenticate, type Credentials, type Deps } from "./deps";
import { readSecretJson, rawSecretPath } from "./secret-routes";

/** A caller on either lane: its credentials and the request id its answer (and audit line) carries. */
export interface Caller extends Credentials {
  requestId: string;
}

/** An answer before it meets a transport: JSON text, and the extra fields a coded error carries. */
export interface Answer {
  status: number;
  body: string;
  fields?: Record<string, string>;
}

export function errorAnswer(err: unknown): Answer {
  if (err instanceof CodedError) return { status: err.status, body: JSON.stringify(err.toBody()), fields: err.headers };
  return { status: 500, body: '{"error":{"code":"SEC_ERR_INTERNAL","message":"internal error"}}' };
}

export interface FastPath {
  /** POST /tokens/validate with the body's text. */
  validate(c: Caller, text: string): Answer;
  /** GET /secrets/<raw>, `raw` still percent-encoded; an Answer at once when the store holds the secret in memory. */
  readSecret(c: Caller, raw: string, query: URLSearchParams | undefined): Answer | Promise<Answer>;
}

const ok = (body: string): Answer => ({ status: 200, body });

export function createFastPath(d: Deps): FastPath {
  const auditMode = d.cfg.audit.token_validations;
  return {
    validate(c, text) {
      try {
        const svc = d.tokens;
        if (!svc) throw SecErrors.SEC_ERR_TOKENS_DISABLED();
        const p = authenticate(d, c, { action: "token.validate", requestId: c.requestId });
        if (text.length > d.cfg.tokens.max_length + 256) throw SecErrors.SEC_ERR_TOO_LARGE("body larger than the token size limit allows");
        let body: { token?: unknown; audience?: unknown };
        try { body = JSON.parse(text); } catch { throw SecErrors.SEC_ERR_BAD_BODY("body is not JSON: expected { token, audience? }", "body"); }
        if (!body || typeof body.token !== "string") throw SecErrors.SEC_ERR_BAD_BODY("expected { token: string, audience?: string }", "body.token");
        if (body.audience !== undefined && typeof body.audience !== "string") throw SecErrors.SEC_ERR_BAD_BODY("audience must be a string", "body.audience");
        const out = svc.validate(body.token, body.audience as string | undefined);
        if (auditMode === "all" || (auditMode === "failures" && !out.valid)) {
          audit(d, p, { action: "token.validate", target: out.valid ? out.claims.sub : undefined, outcome: out.valid ? "ok" : "invalid", request_id: c.requestId, ...(out.valid ? {} : { reason: out.reason }) });
        }
        return { status: 200, body: out.body };
      } catch (err) {
        return errorAnswer(err);
      }
    },
    readSecret(c, raw, query) {
      try {
        const body = readSecretJson(d, c, raw, query, c.requestId);
        return typeof body === "string" ? ok(body) : body.then(ok, errorAnswer);
      } catch (err) {
        return errorAnswer(err);
      }
    },
  };
}

const toResponse = (a: Answer, requestId: string) =>
  new Response(a.body, { status: a.status, headers: { ...a.fields, "content-type": "application/json", "x-request-id": requestId } });

/** The fetch lane's adapters (the plugin's fetch handler routes to them before Elysia). */
export function fetchFastPath(fast: FastPath) {
  const callerOf = (req: Request): Caller => ({ authorization: req.headers.get("authorization"), peerId: peerIdentity(req), requestId: requestIdOf(req) });
  return {
    async validate(req: Request): Promise<Response> {
      const c = callerOf(req);
      return toResponse(fast.validate(c, await req.text()), c.requestId);
    },
    async getSecret(req: Request, query: URLSearchParams | undefined): Promise<Response> {
      const c = callerOf(req);
      return toResponse(await fast.readSecret(c, rawSecretPath(req.url), query), c.requestId);
    },
  };
}
