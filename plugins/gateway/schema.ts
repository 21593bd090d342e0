/**
 * The gateway block of config.yaml (`plugins.gateway`). Services follow the seed's ServiceConfig
 * (name, path_prefix, instances[{url, weight}], rate_limit, auth_required) plus routing, balancing,
 * health, retry, transformation and upstream TLS settings. The edge policy's settings (auth/settings.ts,
 * ratelimit/settings.ts) are top-level keys like the others.
 */
import { Type, type StaticDecode } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { Duration, RateLimit, ByteSize } from "../../src/config/units";
import { ApiKeySchema, AuthSettingsSchema, UserSchema } from "./auth/settings";
import { RateLimitingSchema } from "./ratelimit/settings";

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: "An HTTP header name." });
const HeaderMap = Type.Record(Type.String(), Type.String(), { default: {} });

export const HeaderRulesSchema = Type.Object(
  {
    add: Type.Record(Type.String(), Type.String(), { default: {}, description: "Append a value (keeps existing ones)." }),
    set: Type.Record(Type.String(), Type.String(), { default: {}, description: "Replace any existing value." }),
    remove: Type.Array(HeaderName, { default: [], description: "Drop these headers." }),
    rename: Type.Record(Type.String(), Type.String(), { default: {}, description: "old-name → new-name (values kept)." }),
  },
  { additionalProperties: false, default: {} },
);

export const TransformSchema = Type.Object(
  {
    request_headers: HeaderRulesSchema,
    response_headers: HeaderRulesSchema,
    path: Type.Optional(
      Type.Object(
        {
          pattern: Type.String({ minLength: 1, description: "A regular expression matched against the upstream path (after strip_prefix)." }),
          replacement: Type.String({ description: "Replacement ($1.. groups allowed)." }),
        },
        { additionalProperties: false },
      ),
    ),
    query: Type.Object(
      {
        set: HeaderMap,
        remove: Type.Array(Type.String(), { default: [] }),
        rename: HeaderMap,
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const HealthCheckSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    path: Type.String({ default: "/health", pattern: "^/" }),
    interval: Duration({ default: "10s" }),
    timeout: Duration({ default: "2s" }),
    healthy_threshold: Type.Integer({ minimum: 1, default: 2, description: "Consecutive passes before a down instance takes traffic again." }),
    unhealthy_threshold: Type.Integer({ minimum: 1, default: 3, description: "Consecutive failures before an instance is marked down." }),
    panic: Type.Boolean({ default: true, description: "When every instance is down or ejected, try them all anyway (Envoy's panic routing) instead of answering 503 GW_ERR_NO_HEALTHY_UPSTREAM: a stall of the gateway can time every check out at once." }),
  },
  { additionalProperties: false, default: {} },
);

export const OutlierSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    consecutive_failures: Type.Integer({ minimum: 1, default: 5, description: "Consecutive 5xx or connect errors that eject an instance." }),
    base_ejection: Duration({ default: "10s", description: "First ejection; doubles with each repeat ejection." }),
    max_ejection: Duration({ default: "5m" }),
    max_ejection_percent: Type.Integer({ minimum: 0, maximum: 100, default: 50, description: "At most this share of a service's instances is ejected at once (at least one may always be), as Envoy's max_ejection_percent: a fault that makes every instance look bad (the gateway itself stalled) cannot eject them all." }),
  },
  { additionalProperties: false, default: {} },
);

export const RetrySchema = Type.Object(
  {
    attempts: Type.Integer({ minimum: 0, maximum: 10, default: 2, description: "Retries after the first try (0 = never retry)." }),
    on_status: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [502, 503, 504] }),
    non_idempotent: Type.Boolean({ default: false, description: "Also retry POST/PATCH (bodyless ones only)." }),
    per_try_timeout: Type.Optional(Duration({ description: "Longest wait for one attempt's response head; a try cut off by it is retried on another instance while the route's timeout allows (as Envoy's per_try_timeout). Absent: each try may use the whole timeout." })),
    backoff_base: Duration({ default: "20ms" }),
    backoff_cap: Duration({ default: "500ms" }),
  },
  { additionalProperties: false, default: {} },
);

export const BulkheadSchema = Type.Object(
  {
    max_concurrent: Type.Integer({ minimum: 1, description: "Calls in flight to this service at once (until the upstream's response headers)." }),
    max_queue: Type.Integer({ minimum: 0, default: 0, description: "Calls that may wait (FIFO) for a slot; beyond → 503 GW_ERR_BULKHEAD_FULL at once." }),
    queue_timeout: Duration({ default: "1s", description: "Longest wait in the queue → 503 GW_ERR_BULKHEAD_FULL." }),
  },
  { additionalProperties: false },
);

export const FALLBACK_REASONS = ["circuit_open", "no_healthy_upstream", "timeout", "bulkhead_full", "upstream_error"] as const;
export type FallbackReason = (typeof FALLBACK_REASONS)[number];

export const FallbackSchema = Type.Object(
  {
    status: Type.Integer({ minimum: 200, maximum: 599, default: 200 }),
    headers: Type.Record(Type.String(), Type.String(), { default: {} }),
    body: Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Unknown())], { default: "", description: "Text, or an object/array sent as JSON." }),
    on: Type.Array(Type.Union(FALLBACK_REASONS.map((r) => Type.Literal(r))), { default: [...FALLBACK_REASONS], minItems: 1, description: "Failures answered with this response instead of the coded error." }),
  },
  { additionalProperties: false },
);

export const InstanceSchema = Type.Object(
  {
    url: Type.String({ pattern: "^https?://[^/?#]+/?$", description: "Base URL of one instance: scheme://host:port" }),
    weight: Type.Integer({ minimum: 1, maximum: 1000, default: 1 }),
  },
  { additionalProperties: false },
);

/** registration.allow: CIDRs, IPs, or host:port patterns ("*:9000-9099", "orders.internal:8080"). */
function AllowList(description: string) {
  return Type.Array(Type.String({ minLength: 1, pattern: "^(\\[[0-9a-fA-F:.]+\\](:(\\*|\\d{1,5}(-\\d{1,5})?))?|[0-9a-fA-F:.]+(/\\d{1,3})?|[A-Za-z0-9.*-]+:(\\*|\\d{1,5}(-\\d{1,5})?))$" }), { default: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"], description });
}

export const UpstreamTlsFilesSchema = Type.Object(
  {
    cert_file: Type.String({ default: "", description: "Client certificate (PEM) the gateway presents to mTLS upstreams." }),
    key_file: Type.String({ default: "", description: "Its private key (PEM)." }),
    ca_file: Type.String({ default: "", description: "Platform CA (PEM) upstream certificates must chain to." }),
    reload_check: Duration({ default: "1s", description: "How often file mtimes are checked (rotation without restart)." }),
  },
  { default: {}, additionalProperties: false },
);

/** `services[].tls`: upstream TLS / mTLS for https instances (transport/tls.ts). */
export const ServiceTlsSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal("none"), Type.Literal("tls"), Type.Literal("mutual")], { default: "none", description: "tls: verify the upstream against the CA; mutual: also present the gateway's client certificate." }),
    ca_file: Type.String({ default: "", description: "Empty: upstream_tls.ca_file." }),
    cert_file: Type.String({ default: "", description: "Empty: upstream_tls.cert_file." }),
    key_file: Type.String({ default: "", description: "Empty: upstream_tls.key_file." }),
    server_name: Type.String({ default: "", description: "SNI / name checked in the upstream certificate; empty: the URL host." }),
  },
  { default: {}, additionalProperties: false },
);

export const BALANCERS = ["round_robin", "least_connections", "weighted", "p2c_ewma"] as const;

export const ServiceSchema = Type.Object(
  {
    name: Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }),
    path_prefix: Type.String({ pattern: "^/", description: "Longest prefix wins; matched on whole path segments." }),
    instances: Type.Array(InstanceSchema, { default: [] }),
    methods: Type.Array(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Z-]+$" }), { default: [], description: "Allowed methods, case-sensitive (RFC 9110 tokens). Empty: GET HEAD POST PUT DELETE PATCH OPTIONS (TRACE, CONNECT and extension methods only when listed). Others → 405 (known method) / 501." }),
    path_escapes: Type.Union([Type.Literal("reject"), Type.Literal("keep")], { default: "reject", description: "reject: %2F, %5C, encoded dot segments and backslashes in the path → 400 GW_ERR_BAD_PATH; keep: forwarded as sent (the upstream must not decode them into a route)." }),
    host: Type.Optional(Type.String({ minLength: 1, description: "Match the Host header (exact, or *.example.com)." })),
    strip_prefix: Type.Boolean({ default: false }),
    timeout: Duration({ default: "30s", description: "Total time to the upstream's response headers → 504." }),
    connect_timeout: Duration({ default: "5s", description: "Time to open a connection to an instance (pooled client) → 504." }),
    load_balancing: Type.Union(BALANCERS.map((b) => Type.Literal(b)), { default: "round_robin" }),
    auth_required: Type.Boolean({ default: false }),
    scopes: Type.Array(Type.String(), { default: [] }),
    require_spiffe: Type.Array(Type.String({ pattern: "^spiffe://[^/\\s]+/\\S*$" }), { default: [], description: "Platform mTLS: only callers whose client certificate carries one of these SPIFFE IDs (URI SAN) → else 403 GW_ERR_PEER_FORBIDDEN. Empty: any platform certificate." }),
    rate_limit: Type.Optional(RateLimit()),
    health_check: HealthCheckSchema,
    outlier: OutlierSchema,
    retries: RetrySchema,
    transform: TransformSchema,
    preserve_host: Type.Boolean({ default: false, description: "Send the client's Host upstream instead of the instance's." }),
    bulkhead: Type.Optional(BulkheadSchema),
    websocket: Type.Object(
      {
        idle_timeout: Duration({ default: "120s", description: "An upgraded connection (WebSocket) with no byte either way this long is closed (WebSocket: Close 1001 both ways)." }),
        max_message_size: ByteSize({ default: "16mb", description: "A client WebSocket message (all its fragments) larger than this closes the connection with 1009; 0: no limit." }),
      },
      { additionalProperties: false, default: {} },
    ),
    fallback: Type.Optional(FallbackSchema),
    registration: Type.Optional(Type.Object({ allow: AllowList("Instance addresses that may register for this service.") }, { additionalProperties: false })),
    tls: ServiceTlsSchema,
  },
  { additionalProperties: false },
);

export const GatewaySchema = Type.Object(
  {
    // The edge policy (edge-policy/README.md): authentication, /auth/login users and API keys, rate limits.
    auth: AuthSettingsSchema,
    users: Type.Array(UserSchema, { default: [] }),
    api_keys: Type.Array(ApiKeySchema, { default: [] }),
    rate_limiting: RateLimitingSchema,
    upstream_tls: UpstreamTlsFilesSchema,
    services: Type.Array(ServiceSchema, { default: [] }),
    max_body_size: ByteSize({ default: "1gb", description: "Larger request bodies → 413." }),
    max_header_size: ByteSize({ default: "16kb", description: "Larger request header sections → 431 (Bun itself refuses above 16 KiB)." }),
    retry_budget: Type.Object(
      {
        ratio: Type.Number({ minimum: 0, maximum: 1, default: 0.2, description: "Retries may add at most this fraction of live traffic." }),
        min_per_second: Type.Number({ minimum: 0, default: 5, description: "Retries always allowed at this rate, so low traffic can still retry." }),
        window: Duration({ default: "10s" }),
      },
      { additionalProperties: false, default: {} },
    ),
    registration: Type.Object(
      {
        default_ttl: Duration({ default: "30s" }),
        max_ttl: Duration({ default: "1h" }),
        redis_prefix: Type.String({ default: "tradpal:gateway:", description: "Key prefix of the shared registry in Redis (cluster mode)." }),
        sync_interval: Duration({ default: "1s", description: "How often a gateway re-reads the shared registry." }),
        admin_token: Type.String({ default: "", description: "Platform admin token for the admin endpoints (config.yaml: ${SECURITY_ADMIN_TOKEN}). Empty: the security plugin's <data_dir>/security/admin-token, when present." }),
        allow: AllowList("Instance addresses any service accepts unless it sets its own registration.allow (and runtime services)."),
        deny_ports: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { default: [8000, 8009, 8011, 8012], description: "Ports never registrable on this host's addresses, besides the listeners this process runs (the platform's default ports, for plugins hosted by another process)." }),
        audit: Type.Boolean({ default: true, description: "Hash-chained audit of every registration, removal and refusal in <data_dir>/gateway-audit.log." }),
        runtime_services: Type.Boolean({ default: true, description: "Accept POST /services (scope services:write or the admin token)." }),
        admin_port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: "Serve /services (reads and changes) on this separate plain-HTTP listener only; the data port then answers 404 there. Unset: on the data port." })),
        admin_bind: Type.String({ default: "127.0.0.1", minLength: 1, description: "Listen address of admin_port." }),
      },
      { additionalProperties: false, default: {} },
    ),
    access_log: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        sample_rate: Type.Number({ minimum: 0, maximum: 1, default: 1, description: "Fraction of requests logged (errors are always logged)." }),
        max_per_second: Type.Integer({ minimum: 0, default: 200, description: "Above this rate, successful requests are sampled down to it." }),
      },
      { additionalProperties: false, default: {} },
    ),
    trust_forwarded: Type.Boolean({ default: false, description: "Keep the client's X-Forwarded-For chain (behind a trusted proxy)." }),
    upstream_client: Type.Union([Type.Literal("fetch"), Type.Literal("pooled")], { default: "pooled", description: "fetch(): Bun's client; pooled: the gateway's HTTP/1.1 keep-alive pool on Bun.connect." }),
  },
  { additionalProperties: false },
);

export type GatewaySettings = StaticDecode<typeof GatewaySchema>;
export type ServiceSettings = StaticDecode<typeof ServiceSchema>;
export type HeaderRules = StaticDecode<typeof HeaderRulesSchema>;
export type TransformSettings = StaticDecode<typeof TransformSchema>;
export type BalancerName = (typeof BALANCERS)[number];
export type ServiceTls = StaticDecode<typeof ServiceTlsSchema>;
export type UpstreamTlsFiles = StaticDecode<typeof UpstreamTlsFilesSchema>;

/** Defaults + validation + decoding of a `plugins.gateway` block, as the config loader does it (for tests and tools). */
export function decodeGatewaySettings(raw: unknown = {}): GatewaySettings {
  return Value.Decode(GatewaySchema, Value.Default(GatewaySchema, Value.Clone(raw ?? {})));
}
