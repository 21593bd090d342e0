/**
 * The security plugin (port 8009): certificate authority and mTLS credentials, ES256 tokens with JWKS
 * and rotation, versioned encrypted secrets (embedded or HashiCorp Vault) with a Vault KV v2 compatible
 * API, and a hash-chained audit log. See README.md.
 */
import { tracerFor } from "../../src/lib/trace/trace";
import { traceRequests } from "../../src/lib/trace/fetch";
import { Elysia } from "elysia";
import { definePlugin } from "../../src/core/plugin";
import { httpConventions, requestIdOf } from "../../src/core/http";
import { SecErrors } from "./errors";
import { SecuritySchema } from "./schema";
import { sharedState } from "./state";
import { createTokenService } from "./tokens/service";
import { createAuthorizer } from "./authz";
import { createRevocationPublisher } from "./tokens/revocation-publisher";
import { createVaultStore } from "./secrets/vault";
import { credentialRoutes } from "./http/credential-routes";
import { tokenRoutes } from "./http/token-routes";
import { secretRoutes } from "./http/secret-routes";
import { adminRoutes } from "./http/admin-routes";
import { createVaultApi } from "./http/vault-api";
import { createFastPath, fetchFastPath } from "./http/fast-path";
import { createFastWire } from "./http/fast-wire";
import { auditGate } from "./http/audit-gate";
import type { Deps } from "./http/deps";
import { join } from "node:path";

/** Largest request body any endpoint reads (secrets are limited further by secrets.max_value_size). */
const BODY_LIMIT = 1024 * 1024;

export default definePlugin({
  id: "security",
  description: "CA and mTLS credentials, JWT/JWKS, encrypted secrets (Vault-compatible), audit",
  defaultPort: 8009,
  schema: SecuritySchema,
  // The listener's own limit answers a bare 413; below it, bodies over BODY_LIMIT get a coded one.
  // wire: the host's raw HTTP/1.1 front answers the two hot endpoints (http/fast-wire.ts); the rest is Bun.serve's.
  serve: { maxRequestBodySize: 16 * BODY_LIMIT, wire: true },
  async provision(cfg, ctx) {
    const state = await sharedState(cfg, ctx);
    const t = cfg.tokens;
    const tokens = t.enabled
      ? createTokenService(state.keyring, { issuer: t.issuer, audience: t.audience, ttlMs: t.ttl, maxTtlMs: t.max_ttl, skewMs: t.clock_skew, cacheSize: t.cache_size, maxLength: t.max_length }, join(state.dir, "revoked-jti.json"))
      : undefined;
    const maintainKeys = () => state.keyring.maintain({ rotateEveryMs: t.rotate_every, maxTtlMs: t.max_ttl, skewMs: t.clock_skew });
    if (t.enabled) maintainKeys();
    const v = cfg.secrets.vault;
    const store = v.enabled ? createVaultStore({ addr: v.addr, token: v.token, mount: v.mount, timeoutMs: v.timeout }) : state.embedded();
    const revocations = tokens ? createRevocationPublisher(ctx.bus, ctx.host.redis_url, t.revocation_channel, ctx.log) : undefined;
    const d: Deps = {
      cfg,
      state,
      tokens,
      revocations,
      authz: createAuthorizer(cfg, state.adminToken, () => tokens),
      store,
      log: ctx.log,
      bus: ctx.bus,
      credentialSettings: { trustDomain: cfg.trust_domain, ttlMs: cfg.credentials.ttl, altNames: cfg.credentials.alt_names, crlValidityMs: cfg.credentials.crl_validity },
      ops: ctx.metrics.counter({ name: "operations_total", help: "Credential, token and secret operations by outcome.", labelNames: ["op", "outcome"] as const }),
    };

    ctx.metrics.gauge({ name: "token_cache_entries", help: "Verified tokens held in the validation cache.", collect: (g) => g.set(tokens?.cacheSize() ?? 0) });
    ctx.metrics.gauge({ name: "revoked_certificates", help: "Serials on the certificate revocation list.", collect: (g) => g.set(state.registry.revokedSerials().length) });
    ctx.metrics.gauge({ name: "signing_keys", help: "Token keys in the JWKS (the signing key and retired ones still verifying).", collect: (g) => g.set(state.keyring.kids().length) });
    ctx.metrics.gauge({ name: "ca_expiry_timestamp_seconds", help: "When the issuing CA certificate expires.", collect: (g) => g.set(state.ca.cert.notAfter.getTime() / 1000) });

    const app = new Elysia()
      .use(httpConventions({ errors: SecErrors, log: ctx.log }))
      .use(credentialRoutes(d))
      .use(tokenRoutes(d))
      .use(secretRoutes(d))
      .use(adminRoutes(d));
    const fast = createFastPath(d);
    const { validate, getSecret } = fetchFastPath(fast);
    const tracer = tracerFor(ctx.host, ctx.id);
    const vaultApi = cfg.secrets.vault_api ? createVaultApi(d) : undefined;

    await state.registry.publishCrl();
    let timer: ReturnType<typeof setInterval> | undefined;
    return {
      app,
      // Served outside Elysia's router (fast-path.ts, vault-api.ts): listed in /openapi.json by hand.
      docs: {
        routes: () => [
          { method: "POST", path: "/tokens/validate", summary: "Validate a token (fast path)", tag: "tokens" },
          { method: "GET", path: "/secrets/{path}", summary: "Read a secret (fast path; ?version=N)", tag: "secrets" },
          ...(vaultApi ? ["GET", "POST", "PUT", "DELETE"].map((method) => ({ method, path: `/v1/${cfg.secrets.vault.mount}/data/{path}`, summary: "Vault KV v2 data (X-Vault-Token)", tag: "vault" })).concat(
            { method: "GET", path: `/v1/${cfg.secrets.vault.mount}/metadata/{path}`, summary: "Vault KV v2 metadata (?list=true)", tag: "vault" },
            { method: "GET", path: "/v1/sys/health", summary: "Vault-shaped health", tag: "vault" },
          ) : []),
        ],
      },
      // Spans for issuance, validation and secret access when host.tracing is on (never a secret's path or value).
      // Fail closed: every answer waits for its audit lines to be on file (http/audit-gate.ts).
      fetch: traceRequests(tracer, "security", auditGate(state.audit, (req: Request) => {
        const url = req.url;
        const pathStart = url.indexOf("/", url.indexOf("//") + 2);
        const q = url.indexOf("?", pathStart);
        const path = q === -1 ? url.slice(pathStart) : url.slice(pathStart, q);
        const length = req.headers.get("content-length");
        if (length !== null && Number(length) > BODY_LIMIT) {
          return SecErrors.SEC_ERR_TOO_LARGE(`request body over ${BODY_LIMIT} bytes`, "body").toResponse({ "x-request-id": requestIdOf(req), connection: "close" });
        }
        if (req.method === "POST" && path === "/tokens/validate") return validate(req);
        if (req.method === "GET" && path.startsWith("/secrets/")) return getSecret(req, q === -1 ? undefined : new URLSearchParams(url.slice(q + 1)));
        if (vaultApi && path.startsWith("/v1/")) return vaultApi(req, path, new URLSearchParams(q === -1 ? "" : url.slice(q + 1)));
        return app.handle(req);
      }), ["/secrets/", "/v1/"]),
      // With tracing on, every request takes the fetch lane, where its span is made.
      wire: tracer === undefined ? createFastWire(fast, state.audit, BODY_LIMIT) : undefined,
      async start() {
        timer = setInterval(async () => {
          try {
            const renewed = await state.registry.renewDue(d.credentialSettings);
            for (const svc of renewed) state.audit.append({ who: "system", action: "credentials.renew", target: svc, outcome: "ok" });
            if (renewed.length) ctx.log.info("renewed service certificates", { services: renewed });
            if (t.enabled && maintainKeys()) ctx.log.info("rotated token signing keys", { signing_kid: state.keyring.signing().kid });
          } catch (err) {
            ctx.log.error("credential renewal failed", { err });
          }
        }, cfg.credentials.renew_check_interval);
        timer.unref?.();
      },
      async stop() {
        if (timer) clearInterval(timer);
        timer = undefined;
        await revocations?.stop();
        state.audit.flush();
      },
      async health() {
        const s = await store.health();
        return {
          ok: s.ok,
          reason: s.reason,
          checks: { store: store.kind, ca: state.ca.cert.subject, tokens: t.enabled ? "enabled" : "disabled", signing_kid: t.enabled ? state.keyring.signing().kid : undefined },
        };
      },
    };
  },
});
