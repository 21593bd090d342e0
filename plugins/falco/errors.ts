/** Coded errors of the falco plugin: `{ error: { code, message, where?, details? } }`. */
import { defineErrors } from "../../src/core/errors";

export const FalcoErrors = defineErrors({
  FALCO_ERR_PARSE: { status: 400, message: "request body is not JSON" },
  FALCO_ERR_EMPTY: { status: 400, message: "request body is empty: send one Falco alert or an array of them" },
  FALCO_ERR_INVALID_ALERT: { status: 400, message: "not a valid Falco alert" },
  FALCO_ERR_BATCH_TOO_LARGE: { status: 413, message: "more alerts in one request than intake.max_batch" },
  FALCO_ERR_BODY_TOO_LARGE: { status: 413, message: "request body larger than intake.max_body_size" },
  FALCO_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "send application/json" },
  FALCO_ERR_UNAUTHORIZED: { status: 401, message: "missing or wrong intake secret (X-Falco-Token header or ?token=)" },
  FALCO_ERR_ADMIN_REQUIRED: { status: 401, message: "this action needs the admin token (Authorization: Bearer <token>)" },
  FALCO_ERR_BAD_QUERY: { status: 400, message: "bad query parameter" },
  FALCO_ERR_NOT_QUARANTINED: { status: 404, message: "this service is not quarantined" },
  FALCO_ERR_BAD_SERVICE: { status: 400, message: "service names are 1-128 characters of A-Z a-z 0-9 . _ -" },
  // Elysia's own failures (src/core/http.ts httpConventions)
  FALCO_ERR_VALIDATION: { status: 400, message: "request failed validation" },
  FALCO_ERR_NOT_FOUND: { status: 404, message: "no route for this method and path" },
  FALCO_ERR_INTERNAL: { status: 500, message: "internal error" },
  FALCO_ERR_REQUEST: { status: 400, message: "bad request" },
});
