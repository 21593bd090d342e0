/**
 * The seam between the gateway's proxy core and its edge policy (JWT auth, scopes, rate limits, login).
 * The core calls `check` once per matched request before choosing an upstream; the policy answers
 * with a rejection, or with headers to add to the response (RateLimit-*), and the caller's identity.
 */
import type { AnyElysia } from "elysia";
import type { Rate } from "../../../src/config/units";
import type { HealthReport } from "../../../src/core/plugin";

/** What the edge needs to know about the matched route, precomputed at provision time. */
export interface EdgeRoute {
  /** Service name (policy key for per-service limits). */
  service: string;
  /** Stable route id ("<service>" or "<service>:<route name>"), the key for per-route limits. */
  route: string;
  authRequired: boolean;
  /** Scopes the token must carry (all of them). Empty: any valid token. */
  scopes: readonly string[];
  /** Per-service/route limit; undefined → the plugin's default (RATE_LIMIT_DEFAULT). */
  rateLimit?: Rate;
}

export interface Principal {
  subject: string;
  scopes: readonly string[];
  /** How the caller proved itself. */
  via: "jwt" | "api_key" | "anonymous";
}

export interface EdgeDecision {
  /** Set → send this response instead of proxying (401, 403, 429...). */
  reject?: Response;
  /** Headers to add to the proxied response (e.g. RateLimit-Policy, RateLimit). May be empty. */
  responseHeaders?: readonly (readonly [string, string])[];
  principal?: Principal;
  /** The rate limiter's verdict and policy name, when the route has a limit (read by the debug decision log). */
  rate?: { readonly allowed: boolean; readonly remaining: number; readonly retryAfterMs: number };
  ratePolicy?: string;
}

/** What the check reads of a request: its headers only (a Request, or the wire lane's parsed head). */
export interface EdgeRequest {
  readonly headers: { get(name: string): string | null };
}

export interface EdgePolicy {
  /** Sync where possible (cached token + local bucket); a Promise only when it must wait (Redis, JWKS fetch). */
  check(req: EdgeRequest, route: EdgeRoute, clientIp: string): EdgeDecision | Promise<EdgeDecision>;
  /** /auth/login, /auth/refresh and anything else the edge serves itself. Mounted before the proxy catch-all. */
  app: AnyElysia;
  /** Paths (exact) the edge app serves, so the core routes them to `app` and not upstream. */
  ownPaths: readonly string[];
  health(): HealthReport["checks"];
  stop(): Promise<void>;
  /**
   * Who presents this request's credential (Bearer JWT, HS256 or JWKS-verified, or X-API-Key),
   * verified exactly as `check` verifies it, or why not (a failure reason such as "missing",
   * "expired", "signature"). The gateway's admin endpoints use it.
   */
  authenticate(req: EdgeRequest, clientIp: string): Principal | string | Promise<Principal | string>;
  /**
   * Serve one of `ownPaths` knowing the TCP peer, so /auth/login can throttle per client IP
   * (app.handle(req) has no server to ask). Prefer it over `app.handle`.
   */
  handleOwn(req: Request, clientIp: string): Response | Promise<Response>;
}
