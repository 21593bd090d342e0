/**
 * A route compiled at provision time: everything the hot path needs about one service's entry,
 * precomputed (edge route, transformations, retry status set, metric cells).
 */
import type { PipeLimits } from "../../../src/core/wire";
import type { EdgeRoute } from "../edge-policy/contract";
import { compileTransforms, type CompiledTransforms } from "../transforms";
import type { ServiceRuntime } from "../services";
import { STATUS_CLASSES, type GatewayMetrics } from "../metrics";
import type { CounterCell } from "../../../src/core/metric-cells";
import type { RouteSpec } from "./route-table";
import { compileFallbacks, type FallbackSettings, type FallbackTable } from "./fallback";
import type { PathEscapes } from "./path-normalise";

/** A route's methods when it lists none (RFC 9110 §9 and PATCH; TRACE and CONNECT only when listed). */
export const STANDARD_METHODS: readonly string[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

export interface CompiledRoute {
  readonly id: string;
  readonly svc: ServiceRuntime;
  readonly prefix: string;
  readonly strip: boolean;
  readonly transforms: CompiledTransforms;
  readonly timeoutMs: number;
  /** Limits of upgraded connections (WebSocket) on this route. */
  readonly pipe: PipeLimits;
  /** One attempt's limit within timeoutMs (0: none, an attempt may use the whole timeout). */
  readonly perTryTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly retryAttempts: number;
  readonly retryStatuses: ReadonlySet<number>;
  readonly retryNonIdempotent: boolean;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  readonly preserveHost: boolean;
  /** What the path normaliser does with escapes that could leave the route (path-normalise.ts). */
  readonly pathEscapes: PathEscapes;
  readonly edge: EdgeRoute;
  /** Static responses by gateway error code (config `fallback`), when configured. */
  readonly fallback?: FallbackTable;
  /** requests_total cells by status class (index = statusClass()). */
  readonly statusCells: readonly CounterCell[];
}

export function compileRoute(svc: ServiceRuntime, metrics: GatewayMetrics): CompiledRoute {
  const s = svc.settings;
  const id = s.name;
  return {
    id,
    svc,
    prefix: s.path_prefix,
    strip: s.strip_prefix,
    transforms: compileTransforms(s.transform),
    timeoutMs: s.timeout,
    perTryTimeoutMs: s.retries.per_try_timeout ?? 0,
    pipe: { idleTimeoutMs: s.websocket.idle_timeout, maxMessageBytes: s.websocket.max_message_size },
    connectTimeoutMs: s.connect_timeout,
    retryAttempts: s.retries.attempts,
    retryStatuses: new Set(s.retries.on_status),
    retryNonIdempotent: s.retries.non_idempotent,
    backoffBaseMs: s.retries.backoff_base,
    backoffCapMs: s.retries.backoff_cap,
    preserveHost: s.preserve_host,
    pathEscapes: s.path_escapes,
    edge: { service: s.name, route: id, authRequired: s.auth_required, scopes: s.scopes, rateLimit: s.rate_limit },
    fallback: compileFallbacks(s.fallback as FallbackSettings | undefined),
    statusCells: STATUS_CLASSES.map((c) => metrics.requests.cell({ service: s.name, route: id, status_class: c })),
  };
}

export function routeSpec(route: CompiledRoute): RouteSpec<CompiledRoute> {
  return { prefix: route.prefix, host: route.svc.settings.host, methods: route.svc.settings.methods.length > 0 ? route.svc.settings.methods : STANDARD_METHODS, target: route };
}
