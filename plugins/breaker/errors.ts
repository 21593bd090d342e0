/** The breaker plugin's coded errors: `{ error: { code, message, where? } }` with these statuses. */
import { defineErrors } from "../../src/core/errors";

export const BreakerErrors = defineErrors({
  BR_ERR_UNKNOWN_BREAKER: { status: 404, message: "no breaker with this name" },
  BR_ERR_BAD_NAME: { status: 400, message: "breaker names are 1–128 characters of A-Z a-z 0-9 . _ : -" },
  BR_ERR_UNAUTHORIZED: { status: 401, message: "this action needs the admin token (Authorization: Bearer <token>)" },
  BR_ERR_PARSE: { status: 400, message: "request body is not JSON" },
  BR_ERR_VALIDATION: { status: 400, message: "request failed validation" },
  // Elysia's own failures (src/core/http.ts httpConventions)
  BR_ERR_NOT_FOUND: { status: 404, message: "no route for this method and path" },
  BR_ERR_INTERNAL: { status: 500, message: "internal error" },
  BR_ERR_REQUEST: { status: 400, message: "bad request" },
});
