/**
 * The gateway's coded error catalogue. Every error a client sees from the gateway itself (not the
 * upstream) is `{ error: { code, message, where? } }` with one of these codes. The edge policy's
 * answers are built here too: 401s carry WWW-Authenticate (RFC 6750), 429s Retry-After.
 */
import { defineErrors, jsonError } from "../../src/core/errors";

export const GatewayErrors = defineErrors({
  GW_ERR_NO_ROUTE: { status: 404, message: "no service is routed at this path" },
  GW_ERR_METHOD_NOT_ALLOWED: { status: 405, message: "the matched service does not accept this method" },
  GW_ERR_AMBIGUOUS_LENGTH: { status: 400, message: "request framing is ambiguous (Content-Length with Transfer-Encoding, or conflicting Content-Length)" },
  GW_ERR_BODY_TOO_LARGE: { status: 413, message: "request body exceeds the gateway's limit" },
  GW_ERR_HEADERS_TOO_LARGE: { status: 431, message: "request headers exceed the gateway's limit" },
  GW_ERR_NO_HEALTHY_UPSTREAM: { status: 503, message: "no healthy instance of this service is available" },
  GW_ERR_CIRCUIT_OPEN: { status: 503, message: "the circuit breaker for this service is open" },
  GW_ERR_SERVICE_QUARANTINED: { status: 503, message: "this service is quarantined (a runtime-security response); an operator lifts it" },
  GW_ERR_BULKHEAD_FULL: { status: 503, message: "too many calls to this service are in flight or queued" },
  GW_ERR_PROXY_UPSTREAM_CONNECT: { status: 502, message: "could not connect to the upstream instance" },
  GW_ERR_PROXY_UPSTREAM_RESET: { status: 502, message: "the upstream closed the connection before answering" },
  GW_ERR_PROXY_UPSTREAM_TIMEOUT: { status: 504, message: "the upstream did not answer in time" },
  GW_ERR_PROXY_FAILED: { status: 502, message: "the upstream call failed" },
  GW_ERR_CLIENT_ABORTED: { status: 400, message: "the client went away or its request body broke off before the upstream answered (not counted against the upstream)" },
  GW_ERR_UNKNOWN_SERVICE: { status: 404, message: "no such service" },
  GW_ERR_UNKNOWN_INSTANCE: { status: 404, message: "no such registered instance" },
  GW_ERR_VALIDATION: { status: 400, message: "request failed validation" },
  GW_ERR_REGISTRY_UNAVAILABLE: { status: 503, message: "the shared service registry (Redis) is unreachable" },
  // Requests the gateway will not forward (README "What the gateway refuses").
  GW_ERR_METHOD_NOT_IMPLEMENTED: { status: 501, message: "the gateway does not know this method" },
  GW_ERR_BAD_PATH: { status: 400, message: "the request path could be read two ways (encoded slash or dot segment, backslash, NUL, invalid UTF-8)" },
  GW_ERR_CONNECTION_NAMES_FRAMING: { status: 400, message: "Connection names a field that decides framing or routing (Content-Length, Transfer-Encoding, Host)" },
  // Admin endpoints (registration, runtime services): see README "Service registry".
  GW_ERR_UNAUTHENTICATED: { status: 401, message: "a credential is required to change routing" },
  GW_ERR_ADMIN_FORBIDDEN: { status: 403, message: "the credential does not grant this change" },
  GW_ERR_ADDRESS_REFUSED: { status: 403, message: "this instance address may not register for this service" },
  GW_ERR_PEER_FORBIDDEN: { status: 403, message: "the client certificate's SPIFFE ID is not one this route accepts (require_spiffe)" },
  GW_ERR_SERVICE_CONFLICT: { status: 409, message: "the service clashes with a configured service" },
  GW_ERR_ADMIN_THROTTLED: { status: 429, message: "too many failed credentials from this client" },
  // Elysia's own failures on the gateway's apps (admin, /auth/*: src/core/http.ts httpConventions)
  GW_ERR_PARSE: { status: 400, message: "request body could not be parsed" },
  GW_ERR_NOT_FOUND: { status: 404, message: "no route for this method and path" },
  GW_ERR_INTERNAL: { status: 500, message: "internal error" },
  GW_ERR_REQUEST: { status: 400, message: "bad request" },
  // The edge policy: authentication, /auth/*, rate limits (edge-policy/README.md "Errors").
  GW_ERR_AUTH_MISSING: { status: 401, message: "a bearer token or API key is required" },
  GW_ERR_AUTH_INVALID: { status: 401, message: "the token is invalid" },
  GW_ERR_AUTH_EXPIRED: { status: 401, message: "the token has expired" },
  GW_ERR_FORBIDDEN: { status: 403, message: "the token lacks a scope this route requires" },
  GW_ERR_RATE_LIMITED: { status: 429, message: "rate limit exceeded" },
  GW_ERR_LOGIN_FAILED: { status: 401, message: "unknown user or wrong password" },
  GW_ERR_LOGIN_THROTTLED: { status: 429, message: "too many login attempts" },
  GW_ERR_REFRESH_INVALID: { status: 401, message: "the refresh token is invalid, expired or revoked" },
  GW_ERR_AUTH_UNAVAILABLE: { status: 503, message: "token keys could not be fetched" },
  GW_ERR_AUTH_THROTTLED: { status: 429, message: "too many failed authentication attempts from this client" },
});

export type GatewayErrorCode = keyof typeof GatewayErrors.specs;

/** A coded error response with the request id echoed (hot path: no CodedError allocation). */
export function gatewayError(code: GatewayErrorCode, requestId: string, message?: string, extra?: Record<string, string>): Response {
  const spec = GatewayErrors.specs[code];
  return jsonError(spec.status, code, message ?? spec.message, undefined, undefined, extra ? { "x-request-id": requestId, ...extra } : { "x-request-id": requestId });
}

/** Why a token was refused: the `reason` label of auth_failures_total (bounded set). */
export type AuthFailure =
  | "missing" | "malformed" | "oversized" | "alg" | "kid" | "signature" | "expired" | "not_yet_valid"
  | "iat" | "issuer" | "audience" | "no_exp" | "api_key" | "scope" | "jwks_unavailable" | "throttled" | "revoked";

const REALM = 'Bearer realm="tradpal"';

/** Precomputed per reason: a 401 body never depends on the request, so build its parts once. */
const AUTH_REJECTIONS: Record<string, { status: number; code: string; message: string; www: string }> = {};

function rejectionFor(reason: AuthFailure) {
  let r = AUTH_REJECTIONS[reason];
  if (r) return r;
  if (reason === "missing") {
    r = { status: 401, code: "GW_ERR_AUTH_MISSING", message: GatewayErrors.specs.GW_ERR_AUTH_MISSING.message, www: REALM };
  } else if (reason === "scope") {
    r = { status: 403, code: "GW_ERR_FORBIDDEN", message: GatewayErrors.specs.GW_ERR_FORBIDDEN.message, www: `${REALM}, error="insufficient_scope"` };
  } else if (reason === "jwks_unavailable") {
    r = { status: 503, code: "GW_ERR_AUTH_UNAVAILABLE", message: GatewayErrors.specs.GW_ERR_AUTH_UNAVAILABLE.message, www: REALM };
  } else if (reason === "throttled") {
    r = { status: 429, code: "GW_ERR_AUTH_THROTTLED", message: GatewayErrors.specs.GW_ERR_AUTH_THROTTLED.message, www: REALM };
  } else if (reason === "expired") {
    r = { status: 401, code: "GW_ERR_AUTH_EXPIRED", message: GatewayErrors.specs.GW_ERR_AUTH_EXPIRED.message, www: `${REALM}, error="invalid_token", error_description="expired"` };
  } else {
    r = { status: 401, code: "GW_ERR_AUTH_INVALID", message: `${GatewayErrors.specs.GW_ERR_AUTH_INVALID.message} (${reason})`, www: `${REALM}, error="invalid_token", error_description="${reason}"` };
  }
  AUTH_REJECTIONS[reason] = r;
  return r;
}

export function authRejection(reason: AuthFailure, scope?: readonly string[], retryAfterS?: number): Response {
  const r = rejectionFor(reason);
  const www = reason === "scope" && scope?.length ? `${r.www}, scope="${scope.join(" ")}"` : r.www;
  const headers: Record<string, string> = { "www-authenticate": www };
  if (retryAfterS !== undefined) headers["retry-after"] = String(retryAfterS);
  return jsonError(r.status, r.code, r.message, undefined, undefined, headers);
}

export function rateLimitedResponse(policy: string, retryAfterS: number, headers: readonly (readonly [string, string])[]): Response {
  const h: Record<string, string> = { "retry-after": String(retryAfterS) };
  for (const [k, v] of headers) h[k] = v;
  return jsonError(429, "GW_ERR_RATE_LIMITED", `rate limit exceeded (${policy}); retry in ${retryAfterS}s`, undefined, undefined, h);
}
