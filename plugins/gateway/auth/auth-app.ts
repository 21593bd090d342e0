/**
 * The endpoints the edge serves itself: POST /auth/login (configured users with argon2id hashes, or
 * an API key) and POST /auth/refresh (rotation with reuse detection). Login is throttled per client
 * IP, and failed logins per account+address and per account (login-throttle.ts: slows, never locks
 * the owner out), before any password is checked.
 */
import { Elysia, t } from "elysia";
import { httpConventions } from "../../../src/core/http";
import type { Logger } from "../../../src/core/log";
import { GatewayErrors } from "../errors";
import type { AuthPrincipal, Authenticator } from "./authenticator";
import { makePrincipal } from "./authenticator";
import type { TokenIssuer } from "./token-issuer";
import type { RefreshStore } from "./refresh-store";
import type { GcraPolicy, RateDecision } from "../ratelimit/gcra";
import type { RateLimiter } from "../ratelimit/rate-limiter";
import type { ClientIpResolver } from "../ratelimit/client-ip";
import type { UserEntry } from "./settings";
import { LoginThrottle } from "./login-throttle";
import type { UserDirectory } from "./user-store";

export const AUTH_PATHS = ["/auth/login", "/auth/refresh"] as const;

export interface AuthAppDeps {
  log: Logger;
  users: readonly UserEntry[];
  /** Config users plus the user store (re-read on change); without it, `users` alone. */
  directory?: UserDirectory;
  authenticator: Authenticator;
  issuer: TokenIssuer;
  refresh: RefreshStore;
  refreshTtlMs: number;
  limiter: RateLimiter | undefined;
  loginPerAccount: GcraPolicy;
  loginPerAccountIp: GcraPolicy;
  loginPerIp: GcraPolicy;
  loginKnownIpTtlMs: number;
  resolver: ClientIpResolver;
  onFailure(reason: "login" | "refresh" | "login_throttled"): void;
  /** TCP peer of a request handed in through policy.handleOwn (app.handle has no server to ask). */
  peers: WeakMap<Request, string>;
}

const LoginBody = t.Object(
  {
    username: t.Optional(t.String({ minLength: 1, maxLength: 128 })),
    password: t.Optional(t.String({ minLength: 1, maxLength: 1024 })),
    api_key: t.Optional(t.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);

const RefreshBody = t.Object({ refresh_token: t.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false });

export function createAuthApp(d: AuthAppDeps) {
  const users = new Map(d.users.map((u) => [u.name, u]));
  const findUser = d.directory ? (name: string) => d.directory!.lookup(name) : (name: string) => users.get(name);
  // Unknown users still pay for one argon2id verify, so timing does not reveal which names exist.
  const dummyHash = Bun.password.hash(crypto.randomUUID(), { algorithm: "argon2id" });
  const guesses = new LoginThrottle({ limiter: d.limiter, perAccountIp: d.loginPerAccountIp, perAccount: d.loginPerAccount, knownIpTtlMs: d.loginKnownIpTtlMs });
  const ipCounters = d.limiter?.countersFor(d.loginPerIp);

  async function throttled(policy: GcraPolicy, counters: Map<string, number> | undefined, key: string): Promise<RateDecision | undefined> {
    if (!d.limiter || !counters) return undefined;
    const r = await d.limiter.decide(policy, counters, key);
    return r.allowed ? undefined : r;
  }

  function throttle(r: RateDecision | number, what = "too many login attempts from this address"): never {
    d.onFailure("login_throttled");
    const s = typeof r === "number" ? r : Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    throw GatewayErrors.GW_ERR_LOGIN_THROTTLED(`${what}; retry in ${s}s`, undefined, undefined, { "retry-after": String(s) });
  }

  async function tokensFor(p: AuthPrincipal) {
    const access = await d.issuer.access(p.subject, p.scopes, p.via);
    const refresh = await d.refresh.create({ subject: p.subject, scopes: [...p.scopes], via: p.via }, d.refreshTtlMs);
    return {
      access_token: access.token,
      token_type: "Bearer",
      expires_in: access.expiresInS,
      refresh_token: refresh,
      refresh_expires_in: Math.floor(d.refreshTtlMs / 1000),
      scope: p.scopes.join(" "),
    };
  }

  let warnedPeer = false;
  // Without the peer address a per-IP key would be one global bucket (a lockout for everyone), so
  // only the per-account limit applies; say so once.
  function unknownPeer() {
    if (warnedPeer) return;
    warnedPeer = true;
    d.log.warn("/auth/login reached without the client address (use policy.handleOwn(req, clientIp)); per-IP login throttling is off for such requests");
  }

  function unavailable(err: unknown): never {
    d.log.warn("token store unavailable", { err });
    throw GatewayErrors.GW_ERR_AUTH_UNAVAILABLE("token store unavailable; try again shortly");
  }

  return new Elysia({ name: "gateway-edge-auth" })
    .use(httpConventions({ errors: GatewayErrors, log: d.log }))
    .post("/auth/login", async ({ body, request, server }) => {
      const peer = d.peers.get(request) ?? server?.requestIP(request)?.address;
      const ip = peer === undefined ? undefined : d.resolver.resolve(peer, request.headers.get("x-forwarded-for"));
      if (ip === undefined) unknownPeer();
      else {
        const byIp = await throttled(d.loginPerIp, ipCounters, ip);
        if (byIp) throttle(byIp);
      }
      if (body.api_key !== undefined) {
        const p = d.authenticator.principalForApiKey(body.api_key);
        if (!p) { d.onFailure("login"); throw GatewayErrors.GW_ERR_LOGIN_FAILED("unknown API key"); }
        return tokensFor(p).catch(unavailable);
      }
      if (body.username === undefined || body.password === undefined) {
        throw GatewayErrors.GW_ERR_LOGIN_FAILED("give username and password, or api_key");
      }
      const wait = guesses.waitS(body.username, ip);
      if (wait.waitS > 0) throttle(wait.waitS, wait.why === "address" ? "too many failed logins to this account from this address" : "too many failed logins to this account; addresses that logged in to it before are not slowed");
      const user = findUser(body.username);
      const ok = await Bun.password.verify(body.password, user?.password_hash ?? (await dummyHash)).catch(() => false);
      if (!user || !ok) {
        d.onFailure("login");
        await guesses.failed(body.username, ip).catch(() => undefined); // a store hiccup must not turn a 401 into a 500
        throw GatewayErrors.GW_ERR_LOGIN_FAILED();
      }
      guesses.succeeded(body.username, ip);
      return tokensFor(makePrincipal(user.name, user.scopes, "jwt")).catch(unavailable);
    }, { body: LoginBody })
    .post("/auth/refresh", async ({ body }) => {
      const r = await d.refresh.rotate(body.refresh_token).catch(unavailable);
      if (!r.ok) {
        d.onFailure("refresh");
        if (r.reason === "reused") d.log.warn("refresh token reused: family revoked", { family: body.refresh_token.split(".")[0] });
        throw GatewayErrors.GW_ERR_REFRESH_INVALID(`the refresh token is ${r.reason === "reused" ? "reused (family revoked)" : r.reason}`);
      }
      const access = await d.issuer.access(r.data.subject, r.data.scopes, r.data.via);
      return {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expiresInS,
        refresh_token: r.token,
        scope: r.data.scopes.join(" "),
      };
    }, { body: RefreshBody });
}
