/**
 * Builds one gateway instance from its settings: service runtimes, the compiled route table, the
 * registry (embedded or Redis), upstream TLS, health checks, the edge policy, the admin app and the
 * proxy handler. Upstream state lives in ctx.shared, so a reload keeps health, EWMA and counts.
 */
import { followQuarantines, quarantineSet } from "./quarantine";
import { Topology } from "./topology";
import { tracerFor } from "../../src/lib/trace/trace";
import { flushTraces } from "../../src/lib/trace/otlp";
import type { PluginContext, PluginInstance } from "../../src/core/plugin";
import { createEdgePolicy } from "./edge-policy/policy";
import { serviceTlsSource } from "./transport/tls";
import type { GatewaySettings } from "./schema";
import { createGatewayMetrics, STATUS_CLASSES } from "./metrics";
import { createServiceRuntime, setRegistered, type ServiceRuntime } from "./services";
import { compileRoute, routeSpec } from "./proxy/compiled-route";
import { RouteTable } from "./proxy/route-table";
import { embeddedRegistry, redisRegistry } from "./instance-registry";
import { HealthChecker } from "./health";
import { createAdminApp } from "./admin";
import { createAdminAuth } from "./admin-auth";
import { bindAdminListener, type AdminListener } from "./admin-listener";
import { gatewayError } from "./errors";
import { createAdminAudit } from "./admin-audit";
import { checkInstanceUrl } from "./address-policy";
import { decodeStored, runtimeServiceOps } from "./runtime-services";
import type { ServiceSettings } from "./schema";
import { createProxyHandler } from "./proxy/fetch-lane";
import { ProxyCore } from "./proxy/pipeline";
import { createWireHandler } from "./proxy/wire-lane";
import { ConnectionPool } from "./transport/pool";
import { AccessLog } from "./proxy/access-log";
import { fetchClient, type UpstreamClient } from "./transport/upstream-client";
import { pooledClient } from "./transport/pooled-client";
import { isAvailable } from "./upstream-state";
import { parseLogLevel } from "../../src/core/log";
import { platformService, platformTlsFailure } from "./platform-upstreams";

const PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

export async function provisionGateway(settings: GatewaySettings, ctx: PluginContext): Promise<PluginInstance> {
  const metrics = createGatewayMetrics(ctx.metrics, ctx.id);
  // An upstream instance's health flip is a platform event (the events plugin stores it; other processes hear it).
  const onHealthFlip = (service: string, instance: string, healthy: boolean, error?: string) => {
    ctx.bus.emit("platform.event", { type: "service.health_changed", source: "gateway", payload: { service, instance, status: healthy ? "healthy" : "unhealthy", ...(error ? { reason: error } : {}) } });
  };
  const services = new Map<string, ServiceRuntime>();
  for (const s of settings.services) {
    if (services.has(s.name)) throw new Error(`plugins.gateway.services: service name "${s.name}" is declared twice`);
    services.set(s.name, createServiceRuntime(platformService(s, ctx.tls, ctx.log), ctx.shared, settings.retry_budget, metrics));
  }
  // One place that turns the service map into routes (configured at provision, runtime ones on change).
  const compileAll = () => [...services.values()].map((svc) => compileRoute(svc, metrics));
  const routes = compileAll();
  let table = new RouteTable(routes.map(routeSpec));

  ctx.metrics.gauge({
    name: "upstream_active_requests",
    help: "Requests in flight to each instance.",
    labelNames: ["service", "instance"] as const,
    collect: (g) => { g.reset(); for (const svc of services.values()) for (const m of svc.members) g.set({ service: svc.name, instance: m.url }, m.state.active); },
  });
  ctx.metrics.gauge({
    name: "upstream_available",
    help: "1 when an instance takes traffic (healthy and not ejected), else 0.",
    labelNames: ["service", "instance"] as const,
    collect: (g) => { g.reset(); const now = Date.now(); for (const svc of services.values()) for (const m of svc.members) g.set({ service: svc.name, instance: m.url }, isAvailable(m.state, now) ? 1 : 0); },
  });

  const registry = ctx.host.redis_url
    ? redisRegistry(ctx.shared, ctx.host.redis_url, settings.registration.redis_prefix, ctx.log)
    : embeddedRegistry(ctx.shared);

  const announce = () => ctx.bus.emit("gateway.services", { services: [...services.values()].map((s) => ({ name: s.name, instances: s.members.map((m) => m.url) })) });
  // Runtime services (POST /services): the store's specs, reconciled into `services` and the route table.
  const runtime = new Map<string, { json: string; svc: ServiceRuntime; health: HealthChecker }>();
  const warned = new Set<string>();
  let started = false;
  let core: ProxyCore | undefined;
  const reconcile = async () => {
    const stored = await registry.services();
    const wanted = decodeStored(stored, settings.services, ctx.log, warned);
    let changed = false;
    for (const [name, r] of runtime) {
      if (wanted.has(name) && stored.get(name) === r.json) continue;
      r.health.stop();
      runtime.delete(name);
      services.delete(name);
      changed = true;
    }
    for (const [name, spec] of wanted) {
      if (runtime.has(name)) continue;
      const svc = createServiceRuntime(spec, ctx.shared, settings.retry_budget, metrics);
      svc.runtime = true;
      const hc = new HealthChecker([svc], ctx.log, metrics, onHealthFlip);
      runtime.set(name, { json: stored.get(name)!, svc, health: hc });
      services.set(name, svc);
      if (started) hc.start();
      changed = true;
    }
    if (!changed) return;
    table = new RouteTable(compileAll().map(routeSpec));
    if (core) core.o.table = table;
    announce();
  };
  const sync = async (name: string) => {
    const svc = services.get(name);
    if (!svc) return;
    const regs = await registry.list(name, Date.now());
    if (setRegistered(svc, regs, ctx.shared)) announce();
  };
  let registryUp = true;
  const syncAll = async () => {
    try {
      await reconcile();
      for (const name of services.keys()) await sync(name);
      registryUp = true;
    } catch (err) {
      if (registryUp) ctx.log.warn("service registry sync failed; keeping the last known instances", { err });
      registryUp = false;
    }
  };

  const health = new HealthChecker([...services.values()], ctx.log, metrics, onHealthFlip);

  // Upstream TLS per configured service (https instances): the transport owns the files and their rotation.
  for (const svc of services.values()) svc.tlsSource = serviceTlsSource(svc.settings.tls, settings.upstream_tls, ctx);
  const policy = await createEdgePolicy(settings, ctx, routes.map((r) => r.edge));

  const reg = settings.registration;
  const audit = createAdminAudit(ctx.shared, ctx.host.data_dir, reg.audit);
  let adminListener: AdminListener | undefined;
  // The platform's own ports: every listener of this process, the admin listener, the Redis it uses, deny_ports.
  const redisPort = (() => { try { return ctx.host.redis_url ? Number(new URL(ctx.host.redis_url).port || 6379) : undefined; } catch { return undefined; } })();
  const checkAddress = (name: string | undefined, url: string) => {
    const own = name ? (services.get(name)?.settings as ServiceSettings | undefined)?.registration?.allow : undefined;
    const ports = new Set(reg.deny_ports);
    for (const l of ctx.bus.service("host.listeners")?.() ?? []) ports.add(l.port);
    if (adminListener) ports.add(adminListener.port);
    if (redisPort) ports.add(redisPort);
    return checkInstanceUrl(url, { allow: own ?? reg.allow, platformPorts: ports, bind: ctx.host.bind });
  };
  // The call graph outlives reloads (ctx.shared); breaker states come from the bus (all processes, with the bridge).
  const topology = ctx.shared.getOrCreate("gateway:topology", () => new Topology());
  const tracer = tracerFor(ctx.host, ctx.id);
  const offBreakers = ctx.bus.on("breaker.transition", (t) => { topology.breakers.set(t.name, t.to); });
  const quarantine = quarantineSet(ctx.shared);
  const offQuarantine = followQuarantines(ctx.bus, quarantine, ctx.log);
  const admin = createAdminApp({
    topology,
    services, registry, defaultTtlMs: reg.default_ttl, maxTtlMs: reg.max_ttl, log: ctx.log, sync,
    auth: createAdminAuth({ adminToken: reg.admin_token, dataDir: ctx.host.data_dir, policy }),
    audit: audit.record,
    checkAddress,
    runtime: runtimeServiceOps({
      registry, configured: settings.services, log: ctx.log, enabled: reg.runtime_services,
      current: () => new Map([...runtime].map(([n, r]) => [n, r.svc.settings])),
      reconcile: async () => { await reconcile(); for (const n of runtime.keys()) await sync(n); },
    }),
  });
  // The pooled client lives in ctx.shared: its keep-alive connections survive config reloads.
  // The wire lane relays on the same connections.
  const pool = ctx.shared.getOrCreate("gateway:upstream-pool", () => new ConnectionPool());
  const client: UpstreamClient = settings.upstream_client === "pooled" ? ctx.shared.getOrCreate("gateway:client:pooled", () => pooledClient(pool)) : fetchClient();
  const proxyCore = new ProxyCore({
    table,
    client,
    maxBodySize: settings.max_body_size,
    maxHeaderSize: settings.max_header_size,
    trustForwarded: settings.trust_forwarded,
    policy,
    edgePaths: new Set(policy.ownPaths),
    // With admin_port set the data plane carries no admin endpoint at all.
    admin: reg.admin_port === undefined ? (req, clientIp) => admin.handle(req, clientIp) : (req) => gatewayError("GW_ERR_NO_ROUTE", req.headers.get("x-request-id") ?? "", "the admin endpoints are served on registration.admin_port, not here"),
    bus: ctx.bus,
    log: ctx.log,
    accessLog: new AccessLog(ctx.log, settings.access_log),
    unroutedCells: STATUS_CLASSES.map((c) => metrics.requests.cell({ service: "none", route: "none", status_class: c })),
    latency: metrics.latency,
    // The level of the config being applied (the host sets its logger's level only after provisioning).
    debug: parseLogLevel(ctx.host.log_level) === "debug",
    tracer,
    topology,
    quarantine,
  });
  core = proxyCore;
  const handle = createProxyHandler(proxyCore);
  const wire = createWireHandler(proxyCore, pool);

  announce();
  let syncTimer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  return {
    app: admin.app,
    // /openapi.json: the edge's /auth/* (TypeBox bodies) and every service prefix this gateway proxies.
    docs: {
      apps: [policy.app],
      routes: () => [...services.values()].flatMap((svc) => (svc.settings.methods.length ? svc.settings.methods : PROXIED_METHODS).map((method) => ({
        method, path: `${svc.settings.path_prefix.replace(/\/$/, "")}/{path}`, summary: `proxied to service ${svc.name}${svc.settings.auth_required ? ` (token with scopes: ${svc.settings.scopes.join(", ") || "any"})` : ""}`, tag: `service ${svc.name}`,
      }))),
    },
    fetch: handle,
    wire,
    async start() {
      await syncAll();
      syncTimer = setInterval(() => void syncAll(), Math.max(100, settings.registration.sync_interval));
      health.start();
      started = true;
      if (reg.admin_port !== undefined) {
        adminListener = bindAdminListener(ctx.shared, reg.admin_bind, reg.admin_port, (req, ip) => admin.handle(req, ip));
        ctx.log.info("gateway admin endpoints on their own listener", { address: `${reg.admin_bind}:${adminListener.port}` });
      }
      for (const r of runtime.values()) r.health.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      offBreakers();
      offQuarantine();
      if (syncTimer) clearInterval(syncTimer);
      health.stop();
      for (const r of runtime.values()) r.health.stop();
      adminListener?.release();
      audit.log.flush();
      if (client.kind === "fetch") client.close(); // the shared pooled client is closed by the host at shutdown
      await policy.stop();
      if (tracer) await Promise.race([flushTraces(), Bun.sleep(2000)]); // the last requests' spans, bounded: a dead collector must not hold a shutdown
    },
    async health() {
      const now = Date.now();
      const svcChecks: Record<string, string> = {};
      for (const svc of services.values()) {
        const up = svc.members.filter((m) => isAvailable(m.state, now)).length;
        svcChecks[svc.name] = `${up}/${svc.members.length} available${up === 0 && svc.members.length > 0 && svc.settings.health_check.panic ? " (panic routing: all tried)" : ""}`;
      }
      const registryOk = await registry.ping();
      const tlsFailure = platformTlsFailure(services.values(), ctx.tls, now);
      return {
        ok: !tlsFailure,
        ...(tlsFailure ? { reason: tlsFailure } : {}),
        checks: {
          services: svcChecks,
          registry: `${registry.kind}: ${registryOk ? "up" : "down"}`,
          upstream_client: client.kind,
          ...(adminListener ? { admin_listener: `${reg.admin_bind}:${adminListener.port}` } : {}),
          edge: policy.health(),
        },
      };
    },
  };
}
