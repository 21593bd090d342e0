/**
 * Raw handlers for the two hot endpoints, outside Elysia's router: POST /tokens/validate and
 * GET /secrets/<path>. Same conventions (coded errors, X-Request-Id echo, audit) with fewer allocations.
 */
import { CodedError, jsonError } from "../../../src/core/errors";
import { requestIdOf } from "../../../src/core/http";
import { SecErrors } from "../errors";
import { audit, authenticate, type Deps } from "./deps";
import { readSecret } from "./secret-routes";

const JSON_HEADERS = { "content-type": "application/json" };

function errorResponse(err: unknown, requestId: string): Response {
  if (err instanceof CodedError) return err.toResponse({ "x-request-id": requestId });
  return jsonError(500, "SEC_ERR_INTERNAL", "internal error", undefined, undefined, { "x-request-id": requestId });
}

export function createValidateHandler(d: Deps) {
  const auditMode = d.cfg.audit.token_validations;
  return async function validate(req: Request): Promise<Response> {
    const requestId = requestIdOf(req);
    try {
      const svc = d.tokens;
      if (!svc) throw SecErrors.SEC_ERR_TOKENS_DISABLED();
      const p = authenticate(d, req, { action: "token.validate", requestId });
      const text = await req.text();
      if (text.length > d.cfg.tokens.max_length + 256) throw SecErrors.SEC_ERR_TOO_LARGE("body larger than the token size limit allows");
      let body: { token?: unknown; audience?: unknown };
      try { body = JSON.parse(text); } catch { throw SecErrors.SEC_ERR_BAD_BODY("body is not JSON: expected { token, audience? }", "body"); }
      if (!body || typeof body.token !== "string") throw SecErrors.SEC_ERR_BAD_BODY("expected { token: string, audience?: string }", "body.token");
      if (body.audience !== undefined && typeof body.audience !== "string") throw SecErrors.SEC_ERR_BAD_BODY("audience must be a string", "body.audience");
      const out = svc.validate(body.token, body.audience as string | undefined);
      if (auditMode === "all" || (auditMode === "failures" && !out.valid)) {
        audit(d, p, { action: "token.validate", target: out.valid ? out.claims.sub : undefined, outcome: out.valid ? "ok" : "invalid", request_id: requestId, ...(out.valid ? {} : { reason: out.reason }) });
      }
      return new Response(out.body, { headers: { ...JSON_HEADERS, "x-request-id": requestId } });
    } catch (err) {
      return errorResponse(err, requestId);
    }
  };
}

export function createSecretGetHandler(d: Deps) {
  return async function getSecret(req: Request, path: string, query: URLSearchParams | undefined): Promise<Response> {
    const requestId = requestIdOf(req);
    try {
      const body = await readSecret(d, req, path, query, requestId);
      return new Response(JSON.stringify(body), { headers: { ...JSON_HEADERS, "x-request-id": requestId } });
    } catch (err) {
      return errorResponse(err, requestId);
    }
  };
}
