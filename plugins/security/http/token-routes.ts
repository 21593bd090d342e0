/**
 * POST /tokens/:service (mint), POST /tokens/validate (the hot path: a raw handler, see fast-path.ts),
 * POST /tokens/revoke (jti deny-list, announced to gateways), GET /tokens/revoked (the live deny-list), POST /tokens/rotate (new signing key), GET /.well-known/jwks.json.
 * "validate", "revoke" and "rotate" are therefore not usable as service names here.
 */
import { Elysia } from "elysia";
import { parseDuration } from "../../../src/config/units";
import { SecErrors } from "../errors";
import { assertServiceName } from "../paths";
import { audit, authenticate, rid, type Deps } from "./deps";

const SCOPE_RE = /^[A-Za-z0-9:._\/-]{1,64}$/;

function parseMintBody(body: unknown): { scopes?: string[]; ttlMs?: number } {
  if (body === undefined || body === null || body === "") return {};
  if (typeof body !== "object" || Array.isArray(body)) throw SecErrors.SEC_ERR_BAD_BODY("body must be a JSON object { scopes?, ttl? }", "body");
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (k !== "scopes" && k !== "ttl") throw SecErrors.SEC_ERR_BAD_BODY(`unknown field ${k.slice(0, 32)}`, `body.${k.slice(0, 32)}`);
  let scopes: string[] | undefined;
  if (b.scopes !== undefined) {
    if (!Array.isArray(b.scopes) || b.scopes.length > 64 || !b.scopes.every((s) => typeof s === "string" && SCOPE_RE.test(s))) {
      throw SecErrors.SEC_ERR_BAD_BODY("scopes must be an array of at most 64 strings matching [A-Za-z0-9:._/-]{1,64}", "body.scopes");
    }
    scopes = [...new Set(b.scopes as string[])];
  }
  let ttlMs: number | undefined;
  if (b.ttl !== undefined) {
    try {
      ttlMs = typeof b.ttl === "number" ? b.ttl * 1000 : parseDuration(String(b.ttl));
    } catch {
      throw SecErrors.SEC_ERR_BAD_BODY("ttl must be seconds or a duration like \"15m\"", "body.ttl");
    }
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw SecErrors.SEC_ERR_BAD_BODY("ttl must be positive", "body.ttl");
  }
  return { scopes, ttlMs };
}

export function tokenRoutes(d: Deps) {
  const tokens = () => {
    if (!d.tokens) throw SecErrors.SEC_ERR_TOKENS_DISABLED();
    return d.tokens;
  };
  return new Elysia({ name: "security:tokens" })
    .get("/.well-known/jwks.json", ({ request, set }) => {
      tokens();
      if (!d.cfg.public_ca_and_jwks) authenticate(d, request);
      set.headers["content-type"] = "application/json";
      set.headers["cache-control"] = "public, max-age=300";
      return d.state.keyring.jwksJson();
    })
    .post("/tokens/revoke", ({ body, request, set }) => {
      const svc = tokens();
      const p = authenticate(d, request);
      const requestId = rid(set, request);
      if (p.kind !== "admin") {
        audit(d, p, { action: "token.revoke", outcome: "denied", request_id: requestId });
        throw SecErrors.SEC_ERR_FORBIDDEN("only the administrator revokes tokens");
      }
      const b = (body ?? {}) as Record<string, unknown>;
      let jti: string | undefined, exp: number | undefined, subject: string | undefined;
      if (typeof b.token === "string") {
        const v = svc.validate(b.token);
        if (!v.valid) throw SecErrors.SEC_ERR_BAD_BODY(`token is not valid (${v.reason}); nothing to revoke`, "body.token");
        jti = v.claims.jti;
        exp = v.claims.exp;
        subject = v.claims.sub;
      } else if (typeof b.jti === "string" && b.jti.length > 0 && b.jti.length <= 128) {
        jti = b.jti;
        exp = typeof b.exp === "number" ? b.exp : Math.floor((Date.now() + d.cfg.tokens.max_ttl) / 1000);
      } else throw SecErrors.SEC_ERR_BAD_BODY("give { token } or { jti, exp? }", "body");
      if (!Number.isFinite(exp)) throw SecErrors.SEC_ERR_BAD_BODY("exp must be epoch seconds", "body.exp");
      svc.revoke(jti, exp);
      d.revocations?.publish(subject === undefined ? { jti, exp } : { jti, exp, subject });
      audit(d, p, { action: "token.revoke", target: jti, outcome: "ok", request_id: requestId });
      return { revoked: jti, until: new Date(exp * 1000).toISOString() };
    })
    .get("/tokens/revoked", ({ request, set }) => {
      const svc = tokens();
      const p = authenticate(d, request);
      const requestId = rid(set, request);
      if (p.kind !== "admin" && !(p.kind === "service" && p.grant?.read_revocations === true)) {
        audit(d, p, { action: "token.revoked.list", outcome: "denied", request_id: requestId });
        throw SecErrors.SEC_ERR_FORBIDDEN("only the administrator or a service granted read_revocations lists revoked tokens");
      }
      set.headers["cache-control"] = "no-store";
      return svc.revokedList();
    })
    .post("/tokens/rotate", ({ request, set }) => {
      tokens();
      const p = authenticate(d, request);
      const requestId = rid(set, request);
      if (p.kind !== "admin") throw SecErrors.SEC_ERR_FORBIDDEN("only the administrator rotates signing keys");
      d.state.keyring.maintain({ rotateEveryMs: d.cfg.tokens.rotate_every, maxTtlMs: d.cfg.tokens.max_ttl, skewMs: d.cfg.tokens.clock_skew, force: true });
      const kid = d.state.keyring.signing().kid;
      audit(d, p, { action: "token.rotate", target: kid, outcome: "ok", request_id: requestId });
      return { signing_kid: kid, kids: d.state.keyring.kids() };
    })
    .post("/tokens/:service", ({ params, body, request, set }) => {
      const svc = tokens();
      const service = assertServiceName(params.service);
      const requestId = rid(set, request);
      const p = authenticate(d, request, { action: "token.issue", target: service, requestId });
      if (!d.authz.canMintToken(p, service)) {
        audit(d, p, { action: "token.issue", target: service, outcome: "denied", request_id: requestId });
        throw SecErrors.SEC_ERR_FORBIDDEN(`${p.id} may not mint tokens for ${service}`);
      }
      const allowed = d.authz.allowedScopes(service);
      if (allowed === undefined) throw SecErrors.SEC_ERR_UNKNOWN_SERVICE(`service ${service} is not listed (strict_services)`);
      const req = parseMintBody(body);
      const scopes = req.scopes ?? [...allowed];
      const extra = scopes.filter((s) => !allowed.includes(s));
      if (extra.length) {
        audit(d, p, { action: "token.issue", target: service, outcome: "denied", request_id: requestId, reason: `scopes not allowed: ${extra.join(",")}` });
        throw SecErrors.SEC_ERR_SCOPE_NOT_ALLOWED(`scopes not allowed for ${service}: ${extra.join(", ")}`, "body.scopes", { allowed });
      }
      const { token, claims, kid } = svc.mint(service, scopes, req.ttlMs);
      audit(d, p, { action: "token.issue", target: service, outcome: "ok", request_id: requestId, reason: `jti ${claims.jti}` });
      set.status = 201;
      return { token, token_type: "Bearer", service, scopes, kid, jti: claims.jti, expires_at: new Date(claims.exp * 1000).toISOString(), expires_in: claims.exp - claims.iat };
    });
}
