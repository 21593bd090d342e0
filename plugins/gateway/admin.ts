/**
 * The gateway's own REST endpoints (not proxied): GET /services lists services with their instances,
 * health, weights and live counters; POST/DELETE /services/{name}/instances registers and removes
 * runtime instances (a re-POST of the same URL is the heartbeat that renews its TTL).
 */
import { Elysia, t } from "elysia";
import { httpConventions } from "../../src/core/http";
import type { Logger } from "../../src/core/log";
import { GatewayErrors } from "./errors";
import type { ServiceRuntime } from "./services";
import { normaliseUrl } from "./services";
import type { RegistryStore } from "./registry";
import { isAvailable } from "./upstream-state";

export interface AdminDeps {
  services: ReadonlyMap<string, ServiceRuntime>;
  registry: RegistryStore;
  defaultTtlMs: number;
  maxTtlMs: number;
  log: Logger;
  /** Re-read registrations of one service now (after a local change). */
  sync(service: string): Promise<void>;
}

function describe(svc: ServiceRuntime, now: number) {
  const configured = new Set(svc.settings.instances.map((i) => normaliseUrl(i.url)));
  const expires = new Map(svc.registered.map((r) => [normaliseUrl(r.url), r.expiresAt]));
  return {
    name: svc.name,
    path_prefix: svc.settings.path_prefix,
    load_balancing: svc.settings.load_balancing,
    auth_required: svc.settings.auth_required,
    instances: svc.members.map((m) => ({
      url: m.url,
      weight: m.weight,
      source: configured.has(m.url) && !expires.has(m.url) ? "config" : "registered",
      expires_at: expires.has(m.url) ? new Date(expires.get(m.url)!).toISOString() : undefined,
      available: isAvailable(m.state, now),
      healthy: m.state.healthy,
      ejected_until: m.state.ejectedUntil > now ? new Date(m.state.ejectedUntil).toISOString() : undefined,
      last_check_error: m.state.lastCheckError,
      active_requests: m.state.active,
      latency_ewma_ms: Math.round(m.state.ewmaMs * 100) / 100,
      requests: m.state.requests,
      failures: m.state.failures,
      ejections: m.state.ejections,
    })),
    retry_budget: svc.budget.snapshot(),
  };
}

export function createAdminApp(d: AdminDeps) {
  const service = (name: string) => {
    const svc = d.services.get(name);
    if (!svc) throw GatewayErrors.GW_ERR_UNKNOWN_SERVICE(`no service named "${name}"`, "params.name");
    return svc;
  };
  const ttlOf = (ttl: number | string | undefined): number => {
    if (ttl === undefined) return d.defaultTtlMs;
    const ms = typeof ttl === "number" ? ttl * 1000 : Number.NaN;
    if (!Number.isFinite(ms) || ms <= 0) throw GatewayErrors.GW_ERR_VALIDATION("ttl must be a positive number of seconds", "body.ttl");
    return Math.min(ms, d.maxTtlMs);
  };

  return new Elysia()
    .use(httpConventions({ prefix: "GW", log: d.log }))
    .get("/services", () => {
      const now = Date.now();
      return { services: [...d.services.values()].map((s) => describe(s, now)) };
    })
    .get("/services/:name", ({ params }) => describe(service(params.name), Date.now()))
    .post("/services/:name/instances", async ({ params, body, set }) => {
      const svc = service(params.name);
      const url = normaliseUrl(body.url);
      const ttlMs = ttlOf(body.ttl);
      const expiresAt = Date.now() + ttlMs;
      const renewed = svc.registered.some((r) => normaliseUrl(r.url) === url);
      try {
        await d.registry.put(svc.name, { url, weight: body.weight ?? 1, expiresAt });
      } catch (err) {
        throw GatewayErrors.GW_ERR_REGISTRY_UNAVAILABLE(`could not store the registration: ${(err as Error).message}`);
      }
      await d.sync(svc.name).catch(() => undefined);
      set.status = renewed ? 200 : 201;
      return { service: svc.name, url, weight: body.weight ?? 1, ttl_ms: ttlMs, expires_at: new Date(expiresAt).toISOString(), renewed };
    }, {
      body: t.Object({
        url: t.String({ pattern: "^https?://[^/?#\\s]+/?$", description: "scheme://host:port of the instance" }),
        weight: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
        ttl: t.Optional(t.Number({ exclusiveMinimum: 0, description: "seconds" })),
      }, { additionalProperties: false }),
    })
    .delete("/services/:name/instances", async ({ params, query, body }) => {
      const svc = service(params.name);
      const raw = (body as { url?: string } | undefined)?.url ?? query.url;
      if (!raw) throw GatewayErrors.GW_ERR_VALIDATION("give the instance url in the body ({\"url\": ...}) or as ?url=", "body.url");
      const url = normaliseUrl(raw);
      let removed: boolean;
      try {
        removed = await d.registry.remove(svc.name, url);
      } catch (err) {
        throw GatewayErrors.GW_ERR_REGISTRY_UNAVAILABLE(`could not remove the registration: ${(err as Error).message}`);
      }
      if (!removed) throw GatewayErrors.GW_ERR_UNKNOWN_INSTANCE(`no registered instance ${url} in service "${svc.name}"`, "body.url");
      await d.sync(svc.name).catch(() => undefined);
      return { service: svc.name, url, removed: true };
    });
}
