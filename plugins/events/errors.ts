/** Coded errors of the events plugin: `{ error: { code, message, where?, details? } }`. */
import { defineErrors } from "../../src/core/errors";

export const EventErrors = defineErrors({
  EV_ERR_VALIDATION: { status: 400, message: "event failed validation" },
  EV_ERR_UNKNOWN_TYPE: { status: 400, message: "unknown event type (custom types must start with \"custom.\")" },
  EV_ERR_BATCH_TOO_LARGE: { status: 413, message: "batch larger than max_batch" },
  EV_ERR_PARSE: { status: 400, message: "request body could not be parsed" },
  EV_ERR_EVENT_TOO_LARGE: { status: 413, message: "event larger than max_event_size" },
  EV_ERR_BODY_TOO_LARGE: { status: 413, message: "request body larger than this endpoint accepts" },
  EV_ERR_TOO_DEEP: { status: 400, message: "JSON nested deeper than max_depth" },
  EV_ERR_BAD_QUERY: { status: 400, message: "bad query parameter" },
  EV_ERR_BAD_IDEMPOTENCY_KEY: { status: 400, message: "Idempotency-Key must be 1-200 visible ASCII characters" },
  EV_ERR_IDEMPOTENCY_CONFLICT: { status: 409, message: "Idempotency-Key already used for a different request body" },
  EV_ERR_GROUP_FILTER_MISMATCH: { status: 409, message: "the consumer group's type filter differs from the one asked for" },
  EV_ERR_STORE_UNAVAILABLE: { status: 503, message: "event store unavailable; retry with the same Idempotency-Key" },
  EV_ERR_TOO_MANY_SUBSCRIBERS: { status: 503, message: "too many subscribers" },
  EV_ERR_REPLAY_NOT_FOUND: { status: 404, message: "no such replay" },
  // Elysia's own failures (src/core/http.ts httpConventions)
  EV_ERR_NOT_FOUND: { status: 404, message: "no route for this method and path" },
  EV_ERR_INTERNAL: { status: 500, message: "internal error" },
  EV_ERR_REQUEST: { status: 400, message: "bad request" },
});
