/** The `rate_limiting` settings of the `plugins.gateway` block (every key has a default). */
import { Type, type StaticDecode } from "@sinclair/typebox";
import { Duration, RateLimit } from "../../../src/config/units";

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

export type RateLimitingSettings = StaticDecode<typeof RateLimitingSchema>;
