/**
 * The authentication settings of the `plugins.gateway` block: `auth` (JWT verification, JWKS,
 * revocations, token lifetimes), `users` (argon2id passwords for /auth/login) and `api_keys`.
 * Every key has a default, so an empty block is valid.
 */
import { Type, type StaticDecode } from "@sinclair/typebox";
import { Duration, ByteSize } from "../../../src/config/units";

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

export type AuthSettings = StaticDecode<typeof AuthSettingsSchema>;
export type UserEntry = StaticDecode<typeof UserSchema>;
export type ApiKeyEntry = StaticDecode<typeof ApiKeySchema>;
