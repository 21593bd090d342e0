/** The security plugin's coded errors: `{ error: { code, message, where? } }` with these statuses. */
import { defineErrors } from "../../src/core/errors";

export const SecErrors = defineErrors({
  SEC_ERR_UNAUTHENTICATED: { status: 401, message: "a bearer token is required" },
  SEC_ERR_BAD_TOKEN: { status: 401, message: "the bearer token is not valid" },
  SEC_ERR_FORBIDDEN: { status: 403, message: "this token may not do that" },
  SEC_ERR_SCOPE_NOT_ALLOWED: { status: 403, message: "requested scopes exceed what this service is allowed" },
  SEC_ERR_UNKNOWN_SERVICE: { status: 403, message: "service is not listed in the security config" },
  SEC_ERR_BAD_SERVICE_NAME: { status: 400, message: "service name must match ^[a-z0-9][a-z0-9_.-]{0,62}$" },
  SEC_ERR_BAD_PATH: { status: 400, message: "invalid secret path" },
  SEC_ERR_BAD_BODY: { status: 400, message: "request body is not what this endpoint expects" },
  SEC_ERR_TOO_LARGE: { status: 413, message: "request body is too large" },
  SEC_ERR_NOT_FOUND: { status: 404, message: "not found" },
  SEC_ERR_VERSION_DELETED: { status: 404, message: "this secret version is deleted (undelete restores it)" },
  SEC_ERR_VERSION_DESTROYED: { status: 404, message: "this secret version is destroyed: its data is gone for good" },
  SEC_ERR_CAS_MISMATCH: { status: 409, message: "check-and-set version did not match the current version" },
  SEC_ERR_TOKENS_DISABLED: { status: 404, message: "tokens are disabled (tokens.enabled: false)" },
  SEC_ERR_BACKEND: { status: 502, message: "the secret backend failed" },
  SEC_ERR_BACKEND_UNAVAILABLE: { status: 503, message: "the secret backend is unreachable" },
  SEC_ERR_AUDIT_UNAVAILABLE: { status: 503, message: "the audit log could not be written: the request is not acknowledged (retry)" },
  // Elysia's own failures (src/core/http.ts httpConventions)
  SEC_ERR_VALIDATION: { status: 400, message: "request failed validation" },
  SEC_ERR_PARSE: { status: 400, message: "request body could not be parsed" },
  SEC_ERR_INTERNAL: { status: 500, message: "internal error" },
  SEC_ERR_REQUEST: { status: 400, message: "bad request" },
});
