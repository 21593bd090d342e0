/**
 * The edge's settings: top-level keys of the `plugins.gateway` block (the core spreads
 * `EdgeSettingsSchema.properties` into its own schema), and the `tls` key of one service.
 * Every key has a default, so an empty block is valid.
 */
import { Type, type StaticDecode } from "@sinclair/typebox";
import { Duration, RateLimit, ByteSize } from "../../../src/config/units";

const Scopes = Type.Array(Type.String({ minLength: 1 }), { default: [] });

export const RevocationSettingsSchema = Type.Object(
  {
    channel: Type.String({ default: "tradpal:tokens:revoked", description: "Redis pub/sub channel the security plugin publishes revocations on (its tokens.revocation_channel). Empty: bus only (same process)." }),
    redis_url: Type.String({ default: "", description: "Redis for the channel. Empty: host.redis_url (embedded mode: bus only)." }),
    list_url: Type.String({ default: "", description: "The security plugin's GET /tokens/revoked, fetched at start and after a Redis reconnect. Empty: not seeded." }),
    list_token: Type.String({ default: "", description: "Bearer token for list_url (the admin token or a token of a service granted read_revocations)." }),
    max_entries: Type.Integer({ minimum: 1, default: 100_000, description: "Bound of the deny-list (expired entries are pruned first)." }),
  },
  { default: {}, additionalProperties: false },
);

export const AuthSettingsSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "ENABLE_JWT: off → routes with auth_required are served without a token check." }),
    hs256_secret: Type.String({ default: "", description: "JWT_SECRET_KEY. HS256 tokens verify (and /auth/login signs) with it. Empty: when users or API keys exist, /auth/login signs (and HS256 verifies) with a secret created once in <data_dir>/gateway/hs256.key (shared by this host's workers and restarts; logged as a warning); else HS256 is refused." }),
    jwks_url: Type.String({ default: "", description: "ES256/RS256 keys, e.g. the security plugin's http://127.0.0.1:8009/.well-known/jwks.json. Empty: asymmetric tokens are refused." }),
    jwks_refresh: Duration({ default: "5m", description: "Background re-fetch of the JWKS (rotation)." }),
    jwks_min_refetch: Duration({ default: "5s", description: "An unknown kid triggers a re-fetch at most this often." }),
    issuer: Type.String({ default: "tradpal-gateway", description: "Required `iss` of HS256 tokens (empty: not checked). /auth/login issues tokens with it." }),
    jwks_issuer: Type.String({ default: "tradpal-security", description: "Required `iss` of ES256/RS256 tokens verified with the JWKS (the security plugin's tokens.issuer; empty: not checked)." }),
    audience: Type.String({ default: "tradpal", description: "Required in `aud` (empty: not checked)." }),
    clock_skew: Duration({ default: "30s", description: "Leeway for exp / nbf / iat." }),
    max_token_bytes: ByteSize({ default: "8kb", description: "Longer bearer tokens are refused before any parsing." }),
    cache_size: Type.Integer({ minimum: 0, default: 10_000, description: "Verified tokens kept (LRU) until their exp; 0 disables the cache." }),
    access_ttl: Duration({ default: "15m", description: "Lifetime of access tokens issued by /auth/login." }),
    refresh_ttl: Duration({ default: "7d", description: "Lifetime of a refresh-token family." }),
    revocation: RevocationSettingsSchema,
  },
  { default: {}, additionalProperties: false },
);

export const UserSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    password_hash: Type.String({ pattern: "^\\$argon2id?\\$", description: "Bun.password.hash(pw, \"argon2id\")." }),
    scopes: Scopes,
  },
  { additionalProperties: false },
);

export const ApiKeySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: "Becomes the token subject and the rate-limit key." }),
    key_sha256: Type.String({ pattern: "^[0-9a-f]{64}$", description: "Hex SHA-256 of the key (the key itself never sits in config)." }),
    scopes: Scopes,
  },
  { additionalProperties: false },
);

export const RateLimitingSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    store: Type.Union([Type.Literal("auto"), Type.Literal("local"), Type.Literal("redis")], { default: "auto", description: "auto: redis when a redis url is set (here or host.redis_url), else local." }),
    redis_url: Type.String({ default: "", description: "Empty: host.redis_url." }),
    key_prefix: Type.String({ default: "tradpal:gw:rl:", description: "Redis key prefix; gateways sharing it share limits." }),
    default: RateLimit({ default: "1000/min", description: "RATE_LIMIT_DEFAULT: routes and services without their own limit." }),
    key: Type.Union([Type.Literal("subject"), Type.Literal("ip")], { default: "subject", description: "subject: token subject / API key name, client IP for anonymous callers." }),
    trusted_proxies: Type.Array(Type.String({ minLength: 2 }), { default: ["127.0.0.1/32", "::1/128"], description: "CIDRs whose X-Forwarded-For is believed." }),
    headers: Type.Union([Type.Literal("draft"), Type.Literal("legacy"), Type.Literal("none")], { default: "draft", description: "draft: RateLimit-Policy + RateLimit; legacy: RateLimit-Limit/-Remaining/-Reset." }),
    redis_timeout: Duration({ default: "250ms", description: "Per Redis call; slower → local fallback. Short enough to bound a hung Redis, long enough that a CPU-starved gateway does not flap." }),
    probe_interval: Duration({ default: "1s", description: "How often a degraded limiter checks whether Redis is back." }),
    max_local_keys: Type.Integer({ minimum: 100, default: 100_000, description: "Bound of the in-process counters per policy." }),
    login_per_account: RateLimit({ default: "20/min", description: "Failed POST /auth/login per account from all addresses. Beyond it, addresses that have not logged in to this account before wait (429 Retry-After); addresses that have are exempt, so a stranger cannot lock the owner out." }),
    login_per_account_ip: RateLimit({ default: "5/min", description: "Failed POST /auth/login per account from one client address; beyond it only that account+address pair waits (429 Retry-After, the sustained rate)." }),
    login_known_ip_ttl: Duration({ default: "30d", description: "How long an address that logged in to an account stays exempt from login_per_account (this instance's memory)." }),
    login_per_ip: RateLimit({ default: "30/min", description: "POST /auth/login attempts per client IP (all accounts, successes included)." }),
    auth_failures_per_ip: RateLimit({ default: "60/min", description: "Failed token / API-key checks per client IP (this instance); beyond it, uncached credentials from that IP get 429 without a signature check. 0 disables." }),
  },
  { default: {}, additionalProperties: false },
);

export const UpstreamTlsFilesSchema = Type.Object(
  {
    cert_file: Type.String({ default: "", description: "Client certificate (PEM) the gateway presents to mTLS upstreams." }),
    key_file: Type.String({ default: "", description: "Its private key (PEM)." }),
    ca_file: Type.String({ default: "", description: "Platform CA (PEM) upstream certificates must chain to." }),
    reload_check: Duration({ default: "1s", description: "How often file mtimes are checked (rotation without restart)." }),
  },
  { default: {}, additionalProperties: false },
);

export const EdgeSettingsSchema = Type.Object(
  {
    auth: AuthSettingsSchema,
    users: Type.Array(UserSchema, { default: [] }),
    api_keys: Type.Array(ApiKeySchema, { default: [] }),
    rate_limiting: RateLimitingSchema,
    upstream_tls: UpstreamTlsFilesSchema,
  },
  { additionalProperties: false, default: {} },
);

/** `services[].tls`: the core adds this property to its service schema. */
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

export type EdgeSettings = StaticDecode<typeof EdgeSettingsSchema>;
export type AuthSettings = StaticDecode<typeof AuthSettingsSchema>;
export type RateLimitingSettings = StaticDecode<typeof RateLimitingSchema>;
export type UpstreamTlsFiles = StaticDecode<typeof UpstreamTlsFilesSchema>;
export type ServiceTls = StaticDecode<typeof ServiceTlsSchema>;
export type UserEntry = StaticDecode<typeof UserSchema>;
export type ApiKeyEntry = StaticDecode<typeof ApiKeySchema>;

import { Value } from "@sinclair/typebox/value";

/** Defaults + validation + decoding, as the config loader does it (for tests and tools). */
export function decodeEdgeSettings(raw: unknown = {}): EdgeSettings {
  const value = Value.Default(EdgeSettingsSchema, Value.Clone(raw ?? {}));
  return Value.Decode(EdgeSettingsSchema, value);
}

export function decodeServiceTls(raw: unknown = {}): ServiceTls {
  return Value.Decode(ServiceTlsSchema, Value.Default(ServiceTlsSchema, Value.Clone(raw ?? {})));
}
