/** The breaker plugin's settings (`plugins.breaker` in config.yaml), with defaults for every key. */
import { Type, type StaticDecode as Static } from "@sinclair/typebox";
import { Duration } from "../../src/config/units";
import type { BreakerPolicy } from "./policy";
import { TRANSPORT_ERRORS, type FailurePolicy } from "./classify";

const STATUS_PATTERN = "^[1-5](xx|XX|[0-9]{2})$";

/** Thresholds shared by the defaults and the per-service overrides. */
const policyFields = {
  failure_threshold: Type.Integer({ minimum: 0, default: 5, description: "FAILURE_THRESHOLD: consecutive failures that open a breaker (0: off)." }),
  failure_rate_threshold: Type.Number({ minimum: 0, maximum: 100, default: 50, description: "Percent of failed calls in the window that opens a breaker (0: off)." }),
  window_type: Type.Union([Type.Literal("count"), Type.Literal("time")], { default: "count", description: "count: the last window_size calls; time: the last window_size seconds." }),
  window_size: Type.Integer({ minimum: 1, maximum: 100_000, default: 20, description: "Calls (count window) or seconds (time window)." }),
  minimum_calls: Type.Integer({ minimum: 1, default: 10, description: "No rate is judged before the window holds this many calls." }),
  slow_call_duration: Duration({ default: "0ms", description: "A call at least this slow counts as slow (0: slow-call rule off)." }),
  slow_call_rate_threshold: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 100, description: "Percent of slow calls that opens a breaker." }),
  recovery_timeout: Duration({ default: "60s", description: "RECOVERY_TIMEOUT: time open before the first trial call." }),
  recovery_backoff_multiplier: Type.Number({ minimum: 1, default: 2, description: "Each re-trip multiplies the recovery timeout (1: constant)." }),
  max_recovery_timeout: Duration({ default: "10m", description: "Cap of the growing recovery timeout." }),
  half_open_max_calls: Type.Integer({ minimum: 1, default: 3, description: "Trial calls let through when half-open." }),
  half_open_max_wait: Duration({ default: "60s", description: "Trial permits not reported this long after the last one are given back for new trials (0: wait forever)." }),
};

const PolicySchema = Type.Object(policyFields, { additionalProperties: false });
const PolicyOverrideSchema = Type.Partial(Type.Object(policyFields, { additionalProperties: false }), { additionalProperties: false });

export const BreakerSchema = Type.Object(
  {
    defaults: Type.Object(policyFields, { additionalProperties: false, default: {} }),
    services: Type.Record(Type.String({ pattern: "^[A-Za-z0-9._:-]{1,128}$" }), PolicyOverrideSchema, { default: {}, description: "Per-breaker overrides of `defaults`, keyed by service name." }),
    failures: Type.Object(
      {
        statuses: Type.Array(Type.String({ pattern: STATUS_PATTERN }), { default: ["5xx"], description: "Statuses counted as failures (\"5xx\", \"429\")." }),
        errors: Type.Array(Type.Union(TRANSPORT_ERRORS.map((e) => Type.Literal(e))), { default: [...TRANSPORT_ERRORS], description: "Transport errors counted as failures." }),
        ignored: Type.Array(Type.String({ pattern: STATUS_PATTERN }), { default: [], description: "Statuses counted neither way." }),
      },
      { additionalProperties: false, default: {} },
    ),
    alerts: Type.Object(
      {
        failure_rate_warning: Type.Number({ minimum: 0, maximum: 100, default: 25, description: "Warn when a closed breaker's window failure rate reaches this percent (0: off)." }),
        flapping_trips: Type.Integer({ minimum: 2, default: 3, description: "Re-opens from half-open within flapping_window that raise a flapping alert." }),
        flapping_window: Duration({ default: "5m" }),
      },
      { additionalProperties: false, default: {} },
    ),
    webhooks: Type.Array(Type.String({ pattern: "^https?://" }), { default: [], description: "URLs that receive every alert and transition as a JSON POST." }),
    webhook_timeout: Duration({ default: "2s" }),
    admin_token: Type.String({ default: "", description: "Bearer token for force-open/force-close/disable; empty: generated into <data_dir>/breaker/admin-token." }),
    protect_reset: Type.Boolean({ default: false, description: "Require the admin token for reset too (the seed's reset is open)." }),
    tick_interval: Duration({ default: "250ms", description: "How often open breakers are checked for their half-open time and alerts re-evaluated." }),
    max_breakers: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000, description: "Breakers created by name on first use stop at this many (calls to further names pass unguarded, with a warning)." }),
    history_size: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: "Transitions kept per breaker." }),
    stream_interval: Duration({ default: "1s", description: "Dashboard SSE snapshot period (transitions are pushed at once)." }),
    cluster_prefix: Type.String({ default: "tradpal:", description: "Redis key/channel prefix in cluster mode (REDIS_URL set)." }),
  },
  { additionalProperties: false },
);

export type BreakerConfig = Static<typeof BreakerSchema>;
export type PolicySettings = Static<typeof PolicySchema>;
export type PolicyOverride = Static<typeof PolicyOverrideSchema>;

export function toPolicy(s: PolicySettings): BreakerPolicy {
  return {
    windowType: s.window_type,
    windowSize: s.window_size,
    minimumCalls: s.minimum_calls,
    failureRateThreshold: s.failure_rate_threshold,
    consecutiveFailureThreshold: s.failure_threshold,
    slowCallDurationMs: s.slow_call_duration,
    slowCallRateThreshold: s.slow_call_rate_threshold,
    recoveryTimeoutMs: s.recovery_timeout,
    recoveryBackoffMultiplier: s.recovery_backoff_multiplier,
    maxRecoveryTimeoutMs: Math.max(s.max_recovery_timeout, s.recovery_timeout),
    halfOpenMaxCalls: s.half_open_max_calls,
    halfOpenMaxWaitMs: s.half_open_max_wait,
  };
}

/** The policy for one breaker: defaults with the service's overrides on top. */
export function policyFor(config: BreakerConfig, name: string): BreakerPolicy {
  const over = config.services[name];
  return toPolicy(over ? { ...config.defaults, ...over } as PolicySettings : config.defaults);
}

export function failurePolicy(config: BreakerConfig): FailurePolicy {
  return { statuses: config.failures.statuses, errors: config.failures.errors, ignored: config.failures.ignored };
}
