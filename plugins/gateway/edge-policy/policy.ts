/**
 * createEdgePolicy: everything decided at provision time (route → policy, scopes, counters map,
 * header strings), so `check` is a cache lookup, a Set test and a Map update on the hot path, and a
 * Promise only when it must wait (Redis decision, JWKS re-fetch).
 */
import { quarantineSet } from "../quarantine";
import { join } from "node:path";
import { readOrCreateSecret } from "../../../src/lib/secret-file";
import { randomBytes } from "node:crypto";
import type { PluginContext } from "../../../src/core/plugin";
import type { EdgeDecision, EdgePolicy, EdgeRequest, EdgeRoute } from "./contract";
import { authRejection, rateLimitedResponse, type AuthFailure } from "../errors";
import type { GatewaySettings } from "../schema";
import { createEdgeMetrics } from "./metrics";
import { Authenticator, type AuthOutcome, type AuthPrincipal } from "../auth/authenticator";
import { failureGate } from "../auth/failure-gate";
import { JwksKeys } from "../auth/jwks";
import { RevocationList } from "../auth/revocations";
import { startRevocationFeed } from "../auth/revocation-feed";
import { TokenIssuer } from "../auth/token-issuer";
import { MemoryRefreshStore, RedisRefreshStore, type RefreshStore } from "../auth/refresh-store";
import { makePolicy, type GcraPolicy, type RateDecision } from "../ratelimit/gcra";
import { rateLimitHeaders } from "../ratelimit/headers";
import { RateLimiter } from "../ratelimit/rate-limiter";
import { ClientIpResolver } from "../ratelimit/client-ip";
import { createAuthApp, AUTH_PATHS } from "../auth/auth-app";
import { openUserDirectory } from "../auth/first-login";

interface RouteState {
  auth: boolean;
  scopes: readonly string[];
  policy?: GcraPolicy;
  counters?: Map<string, number>;
}

const NO_DECISION: EdgeDecision = Object.freeze({});

/** The edge policy's part of the gateway's settings. */
export type EdgeSettings = Pick<GatewaySettings, "auth" | "users" | "api_keys" | "rate_limiting">;

export async function createEdgePolicy(settings: EdgeSettings, ctx: PluginContext, routes: EdgeRoute[]): Promise<EdgePolicy> {
  const { auth, rate_limiting: rl } = settings;
  const log = ctx.log.child({ part: "edge" });
  // Config mistakes first, before anything holds a timer or a connection.
  const resolver = new ClientIpResolver(rl.trusted_proxies);
  const redisUrl = rl.store === "local" ? "" : rl.redis_url || ctx.host.redis_url;
  if (rl.store === "redis" && !redisUrl) throw new Error("rate_limiting.store is redis but neither rate_limiting.redis_url nor host.redis_url is set");
  const metrics = createEdgeMetrics(ctx.metrics);

  // Config users, then <data_dir>/gateway/users.json (`bun run users`); the first start creates `admin`.
  const users = await openUserDirectory(settings.users, routes, ctx, log);

  // HS256: JWT_SECRET_KEY; without it, a secret created once in the data dir, so /auth/login works and its
  // tokens pass every worker of this host and survive restarts (gateways on other hosts need JWT_SECRET_KEY).
  let secret = auth.hs256_secret;
  if (!secret && (settings.users.length || settings.api_keys.length || users.inUse)) {
    const file = join(ctx.host.data_dir, "gateway", "hs256.key");
    secret = readOrCreateSecret(file, () => randomBytes(32).toString("base64url"), (v) => v.length >= 32).value;
    log.warn("JWT_SECRET_KEY is not set: /auth/login signs with a secret kept in the data dir; gateways on other hosts will not accept its tokens", { file });
  }
  const hsSecret = secret ? Buffer.from(secret, "utf8") : undefined;

  let jwks: JwksKeys | undefined;
  // Platform mTLS (ctx.tls): the security plugin's JWKS and revocation list are platform URLs: https and
  // the host's certificate, whatever scheme the file wrote (the shipped config says http://).
  const platform = ctx.tls;
  const platformUrl = (url: string) => (platform && url ? platform.upgrade(url) : url);
  if (auth.jwks_url) {
    const url = platformUrl(auth.jwks_url);
    jwks = new JwksKeys({ url, refreshMs: auth.jwks_refresh, minRefetchMs: auth.jwks_min_refetch, log, tls: platform && (() => platform.fetchTls(url)) });
    await Promise.race([jwks.start(), Bun.sleep(1500)]);
  }

  // Bad credentials cost a signature check each; a client that keeps failing is refused before it.
  const failures = failureGate(rl.auth_failures_per_ip, ctx.shared, resolver);
  const throttledRetryS = failures?.retryAfterS ?? 60;
  // Revoked jtis outlive a config reload (the pool), like the counters; each instance has its own feed.
  const rv = auth.revocation;
  const revoked = ctx.shared.getOrCreate("gateway:edge:revoked-jti", () => new RevocationList(rv.max_entries, auth.clock_skew));
  revoked.configure(rv.max_entries, auth.clock_skew);
  const authenticator = new Authenticator(
    { hsSecret, issuer: auth.issuer, jwksIssuer: auth.jwks_issuer, audience: auth.audience, skewS: auth.clock_skew / 1000, maxBytes: auth.max_token_bytes },
    auth.cache_size,
    settings.api_keys,
    jwks,
    metrics,
    failures?.gate,
    revoked,
  );
  let revocations = 0;
  const feed = startRevocationFeed({
    bus: ctx.bus,
    redisUrl: rv.channel ? rv.redis_url || ctx.host.redis_url : "",
    channel: rv.channel,
    listUrl: platformUrl(rv.list_url),
    listToken: rv.list_token,
    listTls: platform && (() => platform.fetchTls(platformUrl(rv.list_url))),
    log,
    onRevoked(jti, expS) {
      if (revoked.add(jti, expS)) revocations++;
      authenticator.evictJti(jti); // also when already listed: this instance's cache may be new
    },
  });
  // Not fatal: with Redis or the list unreachable the feed keeps retrying; provision goes on.
  await Promise.race([feed.ready, Bun.sleep(1000)]);

  const limiter = await RateLimiter.create({
    redisUrl,
    keyPrefix: rl.key_prefix,
    timeoutMs: rl.redis_timeout,
    probeMs: rl.probe_interval,
    maxLocalKeys: rl.max_local_keys,
    shared: ctx.shared,
    log,
    metrics: ctx.metrics,
  }).catch(async (err) => { jwks?.stop(); await feed.stop(); throw err; });
  const keyBySubject = rl.key === "subject";
  const headerStyle = rl.headers;

  const quarantined = quarantineSet(ctx.shared);
  const states = new Map<string, RouteState>();
  // Local counters are per process: with host.workers and no Redis, each worker enforces its share of a
  // limit (the kernel spreads connections about evenly), so the host as a whole keeps to it.
  const share = redisUrl ? 1 : Math.max(1, ctx.workers ?? 1);
  const stateFor = (r: EdgeRoute): RouteState => {
    const rate = r.rateLimit ?? rl.default;
    const policy = rl.enabled ? makePolicy(r.route, share === 1 ? rate : { ...rate, limit: rate.limit / share }) : undefined;
    const s: RouteState = { auth: auth.enabled && r.authRequired, scopes: [...r.scopes], policy, counters: policy ? limiter.countersFor(policy) : undefined };
    states.set(r.route, s);
    return s;
  };
  for (const r of routes) stateFor(r);
  const loginPerAccount = makePolicy("login:account", rl.login_per_account);
  const loginPerIp = makePolicy("login:ip", rl.login_per_ip);
  const loginPerAccountIp = makePolicy("login:account-ip", rl.login_per_account_ip);
  // Counters of policies that no longer exist would stay in the pool forever; the instance being
  // replaced keeps its own references until it drains, so dropping them from the pool is safe.
  const live = new Set([...states.values()].flatMap((s) => (s.policy ? [`gateway:edge:rl:${s.policy.signature}`] : [])));
  live.add(`gateway:edge:rl:${loginPerAccount.signature}`).add(`gateway:edge:rl:${loginPerIp.signature}`).add(`gateway:edge:rl:${loginPerAccountIp.signature}`);
  for (const k of ctx.shared.keys("gateway:edge:rl:")) if (!live.has(k)) await ctx.shared.delete(k);

  function toDecision(d: RateDecision, st: RouteState, principal: AuthPrincipal | undefined): EdgeDecision {
    const p = st.policy!;
    const headers = rateLimitHeaders(headerStyle, p, d);
    if (!d.allowed) {
      metrics.limited(p.name);
      return { reject: rateLimitedResponse(p.name, Math.max(1, Math.ceil(d.retryAfterMs / 1000)), headers), principal, rate: d, ratePolicy: p.name };
    }
    return { responseHeaders: headers, principal, rate: d, ratePolicy: p.name };
  }

  function limit(req: EdgeRequest, st: RouteState, peer: string, principal: AuthPrincipal | undefined): EdgeDecision | Promise<EdgeDecision> {
    if (!st.policy) return principal ? { principal } : NO_DECISION;
    const key = principal && keyBySubject ? principal.rateKey : "ip:" + resolver.resolve(peer, req.headers.get("x-forwarded-for"));
    return limiter.decideAs(st.policy, st.counters!, key, toDecision, st, principal);
  }

  function afterAuth(req: EdgeRequest, st: RouteState, peer: string, a: AuthOutcome): EdgeDecision | Promise<EdgeDecision> {
    // A quarantined service's tokens are refused as revoked until the lift (also when cached).
    if (typeof a !== "string" && quarantined.size !== 0 && quarantined.has(a.subject)) a = "revoked";
    if (typeof a === "string") {
      metrics.authFailure(a);
      return { reject: authRejection(a as AuthFailure, undefined, a === "throttled" ? throttledRetryS : undefined) };
    }
    const scopes = st.scopes;
    for (let i = 0; i < scopes.length; i++) {
      if (!a.scopeSet.has(scopes[i])) {
        metrics.authFailure("scope");
        return { reject: authRejection("scope", scopes), principal: a };
      }
    }
    return limit(req, st, peer, a);
  }

  let refresh: RefreshStore;
  if (limiter.redisClient) {
    refresh = new RedisRefreshStore(limiter.redisClient, rl.key_prefix);
  } else {
    refresh = new MemoryRefreshStore(ctx.shared.getOrCreate("gateway:edge:refresh-families", () => new Map()));
  }

  const peers = new WeakMap<Request, string>();
  const app = createAuthApp({
    log,
    users: settings.users,
    directory: users.directory,
    authenticator,
    issuer: new TokenIssuer({ secret: hsSecret ?? randomBytes(32), issuer: auth.issuer, audience: auth.audience, accessTtlMs: auth.access_ttl }),
    refresh,
    refreshTtlMs: auth.refresh_ttl,
    limiter,
    loginPerAccount,
    loginPerAccountIp,
    loginPerIp,
    loginKnownIpTtlMs: rl.login_known_ip_ttl,
    resolver,
    onFailure: (reason) => metrics.authFailure(reason),
    peers,
  });

  return {
    check(req, route, clientIp) {
      const st = states.get(route.route) ?? stateFor(route);
      if (!st.auth) return limit(req, st, clientIp, undefined);
      const a = authenticator.authenticate(req, clientIp);
      if (a instanceof Promise) return a.then((x) => afterAuth(req, st, clientIp, x));
      return afterAuth(req, st, clientIp, a);
    },
    app,
    ownPaths: AUTH_PATHS,
    authenticate(req, clientIp) {
      if (!auth.enabled) return "disabled"; // ENABLE_JWT off: no token is believed, not even for admin calls
      return authenticator.authenticate(req, clientIp);
    },
    handleOwn(req, clientIp) {
      peers.set(req, clientIp);
      return app.handle(req);
    },
    health() {
      return {
        auth: { enabled: auth.enabled, hs256: !!hsSecret, ...(jwks ? { jwks: jwks.health() } : {}), token_cache: authenticator.cacheSize, revoked: { entries: revoked.size, added: revocations, ...feed.health() } },
        ratelimit: { enabled: rl.enabled, ...limiter.health() },
      };
    },
    async stop() {
      jwks?.stop();
      await feed.stop();
      await limiter.stop();
    },
  };
}
