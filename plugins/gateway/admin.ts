/**
 * The gateway's own REST endpoints (not proxied). Reads: GET /services[/{name}] (instances, health,
 * weights, live counters). Changes, each behind a credential (admin-auth.ts) and audited
 * (admin-audit.ts): POST/DELETE /services/{name}/instances registers and removes runtime instances
 * (a re-POST of the same URL is the heartbeat that renews its TTL), POST /services adds a runtime
 * service, DELETE /services/{name} removes one. Authentication and authorization happen before the
 * body is parsed; instance addresses are checked by address-policy.ts.
 */
import type { Topology } from "./topology";
import { TOPOLOGY_PAGE } from "./topology-page";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { httpConventions } from "../../src/core/http";
import { CodedError } from "../../src/core/errors";
import type { Logger } from "../../src/core/log";
import { GatewayErrors } from "./errors";
import type { ServiceRuntime } from "./services";
import { normaliseUrl } from "./services";
import type { RegistryStore } from "./instance-registry";
import { isAvailable } from "./upstream-state";
import { grants, type AdminAuth, type Caller } from "./admin-auth";
import type { AdminAudit, AdminEvent } from "./admin-audit";
import type { AddressVerdict } from "./address-policy";

export interface AdminDeps {
  services: ReadonlyMap<string, ServiceRuntime>;
  /** GET /topology (JSON) and /topology/view (the page): the live call graph. */
  topology?: Topology;
  registry: RegistryStore;
  defaultTtlMs: number;
  maxTtlMs: number;
  log: Logger;
  /** Re-read registrations of one service now (after a local change). */
  sync(service: string): Promise<void>;
  auth: AdminAuth;
  audit: AdminAudit;
  /** Address check of one instance url for a service (its registration.allow, the platform's ports). */
  checkAddress(service: string | undefined, url: string): AddressVerdict;
  /** Runtime services: validate and store a POST /services body, remove one; both re-route at once. */
  runtime: {
    create(body: unknown, check: (url: string) => AddressVerdict): Promise<{ name: string; created: boolean }>;
    remove(name: string): Promise<void>;
  };
}

const InstanceBody = Type.Object({
  url: Type.String({ pattern: "^https?://[^/?#\\s]+/?$", maxLength: 300, description: "scheme://host:port of the instance" }),
  weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  ttl: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: "seconds" })),
}, { additionalProperties: false });

/** Checked inside the audited block, so a malformed registration is on the audit trail too. */
function instanceBody(body: unknown): { url: string; weight?: number; ttl?: number } {
  const first = Value.Errors(InstanceBody, body).First();
  if (first) throw GatewayErrors.GW_ERR_VALIDATION(`${first.path || "body"}: ${first.message}`, `body${first.path.replaceAll("/", ".")}`);
  return body as { url: string; weight?: number; ttl?: number };
}

function describe(svc: ServiceRuntime, now: number, runtime: boolean) {
  const configured = new Set(svc.settings.instances.map((i) => normaliseUrl(i.url)));
  const expires = new Map(svc.registered.map((r) => [normaliseUrl(r.url), r.expiresAt]));
  return {
    name: svc.name,
    source: runtime ? "runtime" : "config",
    path_prefix: svc.settings.path_prefix,
    load_balancing: svc.settings.load_balancing,
    auth_required: svc.settings.auth_required,
    instances: svc.members.map((m) => ({
      url: m.url,
      weight: m.weight,
      source: configured.has(m.url) && !expires.has(m.url) ? (runtime ? "runtime" : "config") : "registered",
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

/** What a change request asks for, from its method and path alone (before any body is read). */
function changeOf(method: string, path: string): { action: AdminEvent["action"]; service: string } | undefined {
  if (method === "GET" || method === "HEAD") return undefined;
  const seg = path.split("/").filter(Boolean).map((s) => { try { return decodeURIComponent(s); } catch { return s; } });
  if (seg.length === 3 && seg[2] === "instances") return { action: method === "DELETE" ? "deregister" : "register", service: seg[1] };
  if (seg.length === 2) return { action: method === "DELETE" ? "service.delete" : "service.create", service: seg[1] };
  return { action: "service.create", service: "" };
}

/** The `url` (and `name`) of a small JSON body, for the audit line of a refusal. Never throws. */
async function peek(req: Request): Promise<{ url?: string; name?: string }> {
  const q = new URL(req.url).searchParams.get("url") ?? undefined;
  const len = Number(req.headers.get("content-length") ?? "0");
  if (!(len > 0 && len <= 16_384)) return { url: q };
  try {
    const b = JSON.parse(await req.clone().text()) as { url?: unknown; name?: unknown };
    const s = (v: unknown) => (typeof v === "string" ? v.slice(0, 300) : undefined);
    return { url: s(b.url) ?? q, name: s(b.name) };
  } catch { return { url: q }; }
}

export function createAdminApp(d: AdminDeps) {
  // Several gateway processes on one Redis: each shares its call graph, GET /topology merges them (topology-share.ts).
  d.topology?.shareVia(d.registry.topology);
  const callers = new WeakMap<Request, { caller: Caller; ip: string }>();
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
  const who = (req: Request) => callers.get(req)!;
  /** Audit the outcome of a handler that got past authorization, success or coded failure. */
  async function audited<T>(req: Request, action: AdminEvent["action"], svcName: string, url: string | undefined, run: () => Promise<T>, okStatus: () => number): Promise<T> {
    const { caller, ip } = who(req);
    try {
      // Again against the name the router matched (defence in depth: the pre-check read the raw path).
      const need = action === "register" || action === "deregister" ? { register: svcName } : "services:write" as const;
      if (!grants(caller, need)) throw GatewayErrors.GW_ERR_ADMIN_FORBIDDEN(`${caller.who} may not ${action} service "${svcName}"`, "headers.authorization");
      const out = await run();
      d.audit({ who: caller.who, action, service: svcName, ip, url, outcome: "ok", status: okStatus() });
      return out;
    } catch (err) {
      const c = err instanceof CodedError ? err : undefined;
      d.audit({ who: caller.who, action, service: svcName, ip, url, outcome: c && c.status < 500 ? (c.status === 403 ? "denied" : "invalid") : "error", status: c?.status ?? 500, code: c?.code, reason: c?.message ?? String(err) });
      throw err;
    }
  }
  const refuseAddress = (v: AddressVerdict, where: string) => {
    if (!v.ok) throw GatewayErrors.GW_ERR_ADDRESS_REFUSED(v.reason, where);
    return v.url;
  };

  const app = new Elysia()
    .use(httpConventions({ errors: GatewayErrors, log: d.log }))
    .get("/services", () => {
      const now = Date.now();
      return { services: [...d.services.values()].map((s) => describe(s, now, isRuntime(s))) };
    })
    .get("/topology", () => d.topology?.merged() ?? { window_s: 0, breakers: {}, nodes: [], edges: [] })
    .get("/topology/view", () => new Response(TOPOLOGY_PAGE, { headers: { "content-type": "text/html; charset=utf-8" } }))
    .get("/services/:name", ({ params }) => { const s = service(params.name); return describe(s, Date.now(), isRuntime(s)); })
    .post("/services/:name/instances", ({ params, body: raw, set, request }) => audited(request, "register", params.name, typeof (raw as { url?: unknown })?.url === "string" ? String((raw as { url: string }).url).slice(0, 300) : undefined, async () => {
      const svc = service(params.name);
      const body = instanceBody(raw);
      const url = normaliseUrl(refuseAddress(d.checkAddress(svc.name, body.url), "body.url"));
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
    }, () => Number(set.status)))
    .delete("/services/:name/instances", ({ params, query, body, request }) => {
      const raw = (body as { url?: string } | undefined)?.url ?? query.url;
      return audited(request, "deregister", params.name, raw, async () => {
        const svc = service(params.name);
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
      }, () => 200);
    })
    .post("/services", ({ body, set, request }) => {
      const name = typeof (body as { name?: unknown })?.name === "string" ? (body as { name: string }).name : "";
      return audited(request, "service.create", name, undefined, async () => {
        const r = await d.runtime.create(body, (url) => d.checkAddress(undefined, url));
        set.status = r.created ? 201 : 200;
        return { service: r.name, created: r.created };
      }, () => Number(set.status));
    })
    .delete("/services/:name", ({ params, request }) => audited(request, "service.delete", params.name, undefined, async () => {
      await d.runtime.remove(params.name);
      return { service: params.name, removed: true };
    }, () => 200));

  const isRuntime = (s: ServiceRuntime) => s.runtime === true;

  /** Every change: the caller first (401), then what it may change (403), both audited; then the app. */
  async function handle(req: Request, clientIp: string): Promise<Response> {
    const path = new URL(req.url).pathname;
    const change = changeOf(req.method, path);
    if (change === undefined) return app.handle(req);
    let caller: Caller | undefined;
    try {
      caller = await d.auth(req, clientIp);
      const need = change.action === "register" || change.action === "deregister" ? { register: change.service } : "services:write" as const;
      if (!grants(caller, need)) {
        const what = typeof need === "string" ? "scope services:write (or admin)" : `scope register:${need.register} (or register:*, admin)`;
        throw GatewayErrors.GW_ERR_ADMIN_FORBIDDEN(`${caller.who} may not ${change.action} ${change.service ? `service "${change.service}"` : "services"}: needs ${what}`, "headers.authorization");
      }
    } catch (err) {
      // Fail closed: anything unexpected while checking the credential is a 401, never a pass.
      const c = err instanceof CodedError ? err : GatewayErrors.GW_ERR_UNAUTHENTICATED(`the credential could not be checked: ${(err as Error)?.message ?? err}`);
      const p = await peek(req);
      d.audit({ who: caller?.who ?? "anonymous", action: change.action, service: change.service || p.name || "", ip: clientIp, url: p.url, outcome: "denied", status: c.status, code: c.code, reason: c.message });
      return c.toResponse();
    }
    callers.set(req, { caller, ip: clientIp });
    return app.handle(req);
  }

  return { app, handle };
}
