/**
 * What the edge answers instead of proxying. Bodies follow the project's coded shape
 * `{ error: { code, message } }`; 401s carry WWW-Authenticate (RFC 6750), 429s Retry-After.
 */
import { defineErrors, jsonError } from "../../../src/core/errors";

export const EdgeErrors = defineErrors({
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
    r = { status: 401, code: "GW_ERR_AUTH_MISSING", message: EdgeErrors.specs.GW_ERR_AUTH_MISSING.message, www: REALM };
  } else if (reason === "scope") {
    r = { status: 403, code: "GW_ERR_FORBIDDEN", message: EdgeErrors.specs.GW_ERR_FORBIDDEN.message, www: `${REALM}, error="insufficient_scope"` };
  } else if (reason === "jwks_unavailable") {
    r = { status: 503, code: "GW_ERR_AUTH_UNAVAILABLE", message: EdgeErrors.specs.GW_ERR_AUTH_UNAVAILABLE.message, www: REALM };
  } else if (reason === "throttled") {
    r = { status: 429, code: "GW_ERR_AUTH_THROTTLED", message: EdgeErrors.specs.GW_ERR_AUTH_THROTTLED.message, www: REALM };
  } else if (reason === "expired") {
    r = { status: 401, code: "GW_ERR_AUTH_EXPIRED", message: EdgeErrors.specs.GW_ERR_AUTH_EXPIRED.message, www: `${REALM}, error="invalid_token", error_description="expired"` };
  } else {
    r = { status: 401, code: "GW_ERR_AUTH_INVALID", message: `${EdgeErrors.specs.GW_ERR_AUTH_INVALID.message} (${reason})`, www: `${REALM}, error="invalid_token", error_description="${reason}"` };
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
