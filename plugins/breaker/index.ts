/**
 * The breaker plugin: one circuit breaker per upstream, fed by the gateway's "upstream.outcome" reports,
 * consulted through the sync "breaker.permit" service, shared across instances through Redis in cluster
 * mode, with alerts, webhooks, metrics and a live dashboard page.
 */
import { SPAN_KIND, tracerFor, type TraceContext, type Tracer } from "../../src/lib/trace/trace";
import { currentRequest } from "../../src/core/request-context";
import { traceRequests } from "../../src/lib/trace/fetch";
import { definePlugin } from "../../src/core/plugin";
import { BreakerSchema, policyFor, failurePolicy, toPolicy, type BreakerConfig } from "./schema";
import { validatePolicy } from "./policy";
import { createClassifier } from "./classify";
import { BreakerRegistry, type BreakerEntry, type TransitionRecord } from "./breakers";
import { AlertTracker } from "./alerts";
import { Notifier } from "./notifier";
import { BreakerMetrics } from "./metrics";
import { BreakerCluster } from "./cluster";
import { EventStream } from "./event-stream";
import { resolveAdminToken } from "./admin-token";
import { breakerRoutes } from "./routes";
import { dashboard } from "./views";

/** One started instance: `activate` points the registry and the bus at it (its thresholds, its listeners). */
interface LiveInstance { activate(): () => void }

/**
 * What outlives a reload: the breakers, the alerts, and the started instances (newest last). The newest
 * one owns the registry and the bus wiring; when it stops while an older one still runs (a reload that
 * was rolled back), the older one takes over again with its own thresholds.
 */
interface SharedBreakerState {
  registry: BreakerRegistry;
  alerts: AlertTracker;
  live: LiveInstance[];
  active?: LiveInstance;
  deactivate?: () => void;
}

function handOver(shared: SharedBreakerState, to: LiveInstance | undefined): void {
  shared.deactivate?.();
  shared.deactivate = undefined;
  shared.active = to;
  if (to) shared.deactivate = to.activate();
}

function checkPolicies(config: BreakerConfig): void {
  const problems: string[] = [];
  for (const e of validatePolicy(toPolicy(config.defaults))) problems.push(`plugins.breaker.defaults: ${e}`);
  for (const name of Object.keys(config.services)) {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(name)) { problems.push(`plugins.breaker.services: "${name}" is not a breaker name (1–128 of A-Z a-z 0-9 . _ : -)`); continue; }
    for (const e of validatePolicy(policyFor(config, name))) problems.push(`plugins.breaker.services.${name}: ${e}`);
  }
  if (problems.length) throw new Error(problems.join("; "));
}

export default definePlugin({
  id: "breaker",
  description: "Circuit breakers for every upstream, alerts, webhooks and a live dashboard",
  defaultPort: 8012,
  schema: BreakerSchema,
  async provision(config, ctx) {
    checkPolicies(config);
    const policyOf = (name: string) => policyFor(config, name);
    const shared = ctx.shared.getOrCreate<SharedBreakerState>("breaker:state", () => ({ registry: new BreakerRegistry(policyOf), alerts: new AlertTracker(), live: [] }));
    const { registry, alerts } = shared;
    const classify = createClassifier(failurePolicy(config));

    const admin = resolveAdminToken(config.admin_token, ctx.host.data_dir);
    if (admin.file) ctx.log.info("breaker admin token generated or reused", { file: admin.file });
    const mode = ctx.host.redis_url ? "cluster" as const : "embedded" as const;
    const stream = new EventStream();
    const metrics = new BreakerMetrics(ctx.metrics, registry, alerts);
    const notifier = new Notifier(ctx.bus, ctx.log, config.webhooks, config.webhook_timeout, ctx.signal, ctx.tls);
    const cluster = mode === "cluster" ? new BreakerCluster(ctx.host.redis_url, config.cluster_prefix, registry, ctx.log) : undefined;
    const alertSettings = { failureRateWarning: config.alerts.failure_rate_warning, flappingTrips: config.alerts.flapping_trips, flappingWindowMs: config.alerts.flapping_window };
    for (const e of registry.entries.values()) metrics.created(e);

    const pushSnapshot = () => { if (stream.size > 0) stream.send("snapshot", dashboard(registry, alerts, mode)); };
    /** Re-evaluate alerts; push a snapshot to the page when asked or when an alert came or went. */
    const refresh = (push = true) => {
      const { raised, resolved } = alerts.evaluate(registry.entries.values(), alertSettings, registry.now());
      for (const a of raised) { ctx.log.warn("breaker alert", { alert: a.id, severity: a.severity, message: a.message }); notifier.alert(a, "raised"); }
      for (const a of resolved) { ctx.log.info("breaker alert resolved", { alert: a.id }); notifier.alert(a, "resolved"); }
      if (push || raised.length > 0 || resolved.length > 0) pushSnapshot();
    };
    // Transitions can happen on the gateway's call stack (permit): the heavy part runs just after.
    let refreshQueued = false;
    const queueRefresh = () => {
      if (refreshQueued) return;
      refreshQueued = true;
      queueMicrotask(() => { refreshQueued = false; refresh(); });
    };
    const tracer = tracerFor(ctx.host, ctx.id);
    const onTransition = (entry: BreakerEntry, record: TransitionRecord) => {
      metrics.transition(entry, record);
      // Under the request that caused it (an operator action, a permit over HTTP) when that request is traced; else a trace of its own.
      tracer?.span(transitionParent(tracer), "breaker.transition", SPAN_KIND.internal, record.at, record.at, { "tradpal.breaker": entry.name, "tradpal.breaker.from": record.from, "tradpal.breaker.to": record.to, "tradpal.breaker.reason": record.reason, "tradpal.breaker.origin": record.origin });
      ctx.log.info("breaker transition", { breaker: entry.name, from: record.from, to: record.to, reason: record.reason, origin: record.origin });
      notifier.transition(entry, record);
      cluster?.publish(entry, record);
      queueRefresh();
    };

    const timers: ReturnType<typeof setInterval>[] = [];
    let stopped = false;

    const self: LiveInstance = {
      activate() {
        registry.configure(policyOf, classify, config.history_size, config.max_breakers);
        for (const name of Object.keys(config.services)) metrics.created(registry.getOrCreate(name, "config"));
        registry.listener = onTransition;
        registry.onOutcome = (entry, outcome) => metrics.outcome(entry, outcome);
        registry.onCreate = (entry) => metrics.created(entry);
        registry.onLimit = (name) => ctx.log.warn("breaker limit reached: calls to this service are not guarded", { service: name, max_breakers: config.max_breakers });
        const offOutcome = ctx.bus.on("upstream.outcome", registry.record);
        const withdraw = ctx.bus.provide("breaker.permit", registry.permit);
        const offServices = ctx.bus.on("gateway.services", (s) => {
          for (const svc of s.services) {
            const entry = registry.getOrCreate(svc.name, "gateway");
            entry.source = "gateway";
            entry.instances = [...svc.instances];
          }
          queueRefresh();
        }, { replay: true });
        return () => {
          offOutcome(); withdraw(); offServices();
          registry.listener = undefined;
          registry.onOutcome = undefined;
          registry.onCreate = undefined;
          registry.onLimit = undefined;
        };
      },
    };

    const app = breakerRoutes({ registry, alerts, stream, log: ctx.log, adminToken: admin.token, protectReset: config.protect_reset, mode, refresh: () => refresh(true) });

    return {
      app,
      ...(tracer ? { fetch: traceRequests(tracer, "breaker", (req: Request) => app.handle(req)) } : {}),
      async start() {
        // The newest config goes live now (not at provision): a reload that is rolled back changes nothing.
        shared.live.push(self);
        handOver(shared, self);
        if (cluster && !(await cluster.start())) {
          ctx.log.error("breaker cluster sync unavailable (Redis not answering); breakers stay local until it does");
        }
        timers.push(setInterval(() => { registry.tick(); refresh(false); }, config.tick_interval));
        timers.push(setInterval(pushSnapshot, config.stream_interval));
        refresh();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        for (const t of timers) clearInterval(t);
        const i = shared.live.indexOf(self);
        if (i >= 0) shared.live.splice(i, 1);
        if (shared.active === self) handOver(shared, shared.live.at(-1));
        stream.close();
        await cluster?.stop();
        await notifier.drain(500);
      },
      health() {
        let open = 0;
        for (const e of registry.entries.values()) if (e.machine.state === 1 || e.machine.state === 3) open++;
        const checks: Record<string, unknown> = { breakers: registry.entries.size, open, alerts: alerts.active.size, mode };
        if (cluster) checks.redis = cluster.connected ? "up" : "down";
        if (cluster && !cluster.connected) return { ok: false, reason: "redis unreachable: breaker states are not shared between instances", checks };
        return { ok: true, checks };
      },
    };
  },
});

/** The span a transition hangs under: the current request's server span when it is sampled, else a new trace. */
function transitionParent(tracer: Tracer): TraceContext {
  const rc = currentRequest();
  const traceId = rc?.trace();
  return traceId !== undefined && rc!.spanId !== undefined ? { traceId, spanId: rc!.spanId, sampled: true } : tracer.incoming(undefined);
}
