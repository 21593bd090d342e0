/**
 * The plugin host: loads config, provisions plugins in dependency order, binds their ports, and applies
 * a changed config as build-new → swap → drain-and-stop-old. A failure anywhere in a reload leaves the
 * running config serving and is logged with its location.
 */
import { HealthPoller } from "./health-poll";
import { configEndpoint, type FailureRecord, type ReloadRecord } from "./config-endpoint";
import { BusBridge } from "./bus-bridge/bridge";
import { PermitMirror } from "./bus-bridge/permit-mirror";
import { missingCooperation } from "./bus-bridge/cooperation";
import { WS_GOING_AWAY, WS_SERVICE_RESTART } from "../lib/http1/ws-frames";
import type { Registry } from "prom-client";
import { Counter, Gauge } from "prom-client";
import type { Server } from "bun";
import { createLogger, parseLogLevel, type LogSink, type RootLogger } from "../core/log";
import { createBus, type Bus } from "../core/bus";
import { createSharedPool, type SharedPool } from "../core/shared-pool";
import { createHostRegistry, createPluginMetrics, renderMetrics, METRICS_CONTENT_TYPE, type PluginMetrics } from "../core/metrics";
import { HostErrors } from "../core/errors";
import type { PluginContext, PluginInstance } from "../core/plugin";
import { loadConfig, formatErrors, type LoadedConfig, type PluginBlock, type PluginResolver, type ConfigError } from "../config/load";
import { directoryResolver } from "./resolve";
import { dependencyOrder } from "./order";
import { bind, drained, type BoundServer } from "./listener";
import type { Generation, Slot } from "./slot";
import { renderTable, type TableRow } from "./table";
import { platformTls, platformClient, bindHealthListener, tlsHealth, applyRenewed, type PlatformTls } from "./tls";
import { openApiDocument } from "./openapi";
import { docsPage } from "./docs-page";

export interface HostOptions {
  file: string;
  only?: string[];
  env?: Record<string, string | undefined>;
  resolve?: PluginResolver;
  logSink?: LogSink;
  /** One of several workers on the same ports (host.workers): listeners bind with SO_REUSEPORT. */
  worker?: { index: number; count: number };
}

export type ReloadOutcome =
  | { ok: true; changed: string[] }
  | { ok: false; stage: "config"; errors: ConfigError[] }
  | { ok: false; stage: "apply"; plugin: string; error: string };

interface RunningPlugin {
  slot: Slot;
  bound: BoundServer;
  metrics: PluginMetrics;
  startedAt: number;
}

const VERSION = "0.1.0";

export class Host {
  readonly log: RootLogger;
  readonly bus: Bus;
  readonly shared: SharedPool;
  readonly hostRegistry: Registry;
  private config!: LoadedConfig;
  private readonly running = new Map<string, RunningPlugin>();
  private readonly pluginMetrics = new Map<string, PluginMetrics>();
  private readonly resolve: PluginResolver;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Platform mTLS material (host.mtls.enabled), fixed at start: listeners cannot change TLS in place. */
  private tls?: PlatformTls;
  private healthServer?: Server<unknown>;
  private bridge?: BusBridge;
  private mirror?: PermitMirror;
  private busGaps: string[] = [];
  private readonly pluginHealthy: Gauge<"plugin">;
  private healthPoller?: HealthPoller;
  /** Replaced instances still draining after their reload returned. */
  private readonly draining = new Set<Promise<void>>();
  private applied: ReloadRecord = { version: 1, loadedAt: Date.now() };
  private lastFailure?: FailureRecord;
  private configHandler?: (req: Request) => Promise<Response>;
  private readonly reloads: Counter<"result">;
  private readonly lastReloadOk: Gauge;
  private readonly lastReloadTime: Gauge;

  constructor(private readonly opts: HostOptions) {
    const env = opts.env ?? process.env;
    this.log = createLogger({ level: parseLogLevel(env.LOG_LEVEL), sink: opts.logSink, fields: { plugin: "host" } });
    this.bus = createBus(this.log);
    this.shared = createSharedPool();
    this.resolve = opts.resolve ?? directoryResolver();
    this.hostRegistry = createHostRegistry({ defaultMetrics: true });
    const hostMetrics = createPluginMetrics("host", this.hostRegistry);
    this.reloads = hostMetrics.counter({ name: "config_reloads_total", help: "Config reloads by result (success, failure).", labelNames: ["result"] as const });
    this.reloads.inc({ result: "success" }, 0);
    this.reloads.inc({ result: "failure" }, 0);
    this.lastReloadOk = hostMetrics.gauge({ name: "config_last_reload_successful", help: "1 when the last config reload applied, 0 when it was refused." });
    this.lastReloadOk.set(1);
    this.lastReloadTime = hostMetrics.gauge({ name: "config_last_reload_success_timestamp_seconds", help: "When the running config was applied." });
    hostMetrics.gauge({
      name: "plugin_up",
      help: "1 for every plugin this process hosts.",
      labelNames: ["plugin"] as const,
      collect: (g) => { g.reset(); for (const id of this.running.keys()) g.set({ plugin: id }, 1); },
    });
    this.pluginHealthy = hostMetrics.gauge({ name: "plugin_healthy", help: "1 when the plugin's last polled /health was ok (host.health_interval), 0 when not.", labelNames: ["plugin"] as const });
    hostMetrics.gauge({
      name: "requests_in_flight",
      help: "Requests being handled, by plugin.",
      labelNames: ["plugin"] as const,
      collect: (g) => { g.reset(); for (const [id, r] of this.running) g.set({ plugin: id }, r.slot.gen.inflight); },
    });
    // The gateway refuses instance registrations that point at the platform's own ports.
    this.bus.provide("host.listeners", () => {
      const out = [...this.running].map(([plugin, r]) => ({ plugin, hostname: r.bound.hostname, port: r.bound.port }));
      if (this.healthServer?.port !== undefined) out.push({ plugin: "(health)", hostname: this.config.host.bind, port: this.healthServer.port });
      return out;
    });
  }

  get currentConfig(): LoadedConfig { return this.config; }

  /** Where a hosted plugin listens. */
  address(id: string): { hostname: string; port: number; url: string } | undefined {
    const r = this.running.get(id);
    if (!r) return undefined;
    const host = r.bound.hostname === "0.0.0.0" ? "127.0.0.1" : r.bound.hostname;
    return { hostname: r.bound.hostname, port: r.bound.port, url: `${this.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${r.bound.port}` };
  }

  plugins(): string[] { return [...this.running.keys()]; }

  /** What the host's own clients present when platform mTLS is on (undefined when off). */
  get clientTls(): PlatformTls["client"] | undefined { return this.tls?.client; }

  /** Port of the plain health listener (host.mtls.health_port), when bound. */
  get healthPort(): number | undefined { return this.healthServer?.port; }

  private async load(): Promise<{ ok: true; config: LoadedConfig } | { ok: false; errors: ConfigError[] }> {
    return loadConfig({ file: this.opts.file, env: this.opts.env, resolve: this.resolve, only: this.opts.only });
  }

  /** Load, provision, start and bind every plugin. Throws with a readable message on any failure. */
  async start(): Promise<TableRow[]> {
    const result = await this.load();
    if (!result.ok) throw new Error(`config is invalid:\n${formatErrors(this.opts.file, result.errors)}`);
    this.config = result.config;
    this.log.setLevel(parseLogLevel(this.config.host.log_level));
    this.tls = await platformTls(this.config.host, this.log, this.config.declared);
    this.tls?.peers.start(this.bus); // revocations reach every listener live (src/host/tls-peers.ts)
    // A renewed host certificate goes to every listener for new connections (src/host/tls-host-cert.ts).
    this.tls?.renewal?.start((pem) => { const server = applyRenewed(this.tls!, pem); for (const r of this.running.values()) r.bound.retls?.(server); });
    const rows: TableRow[] = [];
    const busRow = await this.startBus();
    const started: RunningPlugin[] = [];
    try {
      for (const block of dependencyOrder(this.config.plugins.map((b) => ({ ...b, dependsOn: b.definition.dependsOn })))) {
        const t0 = performance.now();
        const gen = await this.provision(block);
        const slot = this.makeSlot(block.id, gen);
        let bound: BoundServer;
        try {
          bound = this.bindSlot(slot, block);
        } catch (err) {
          await this.stopGeneration(gen);
          throw err;
        }
        const running: RunningPlugin = { slot, bound, metrics: this.metricsFor(block.id), startedAt: Date.now() };
        this.running.set(block.id, running);
        started.push(running);
        rows.push({ plugin: block.id, address: `${bound.hostname}:${bound.port}`, state: "running", ms: Math.round(performance.now() - t0) });
      }
    } catch (err) {
      for (const r of started.reverse()) {
        r.bound.stop(true);
        await this.stopGeneration(r.slot.gen);
        this.running.delete(r.slot.id);
      }
      this.mirror?.stop();
      await this.bridge?.stop();
      throw err;
    }
    const healthPort = this.config.host.mtls.health_port;
    if (this.tls && healthPort !== undefined) {
      this.healthServer = bindHealthListener(this.config.host.bind, healthPort, () => new Map([...this.running].map(([id, r]) => [id, r.slot])), this.config.host.mtls.open_paths);
      rows.push({ plugin: "(health)", address: `${this.config.host.bind}:${this.healthServer.port}`, state: "plain http", ms: 0 });
    }
    rows.push(busRow);
    this.healthPoller = new HealthPoller({ intervalMs: this.config.host.health_interval, slots: () => new Map([...this.running].map(([id, r]) => [id, r.slot])), bus: this.bus, gauge: this.pluginHealthy });
    this.healthPoller.start();
    this.lastReloadTime.set(Date.now() / 1000);
    this.log.info("host started", { plugins: rows.map((r) => `${r.plugin}@${r.address}`), config: this.opts.file });
    return rows;
  }

  /**
   * The bus across processes when Redis is configured (bus-bridge/), with the breaker-permit mirror for a
   * process without the breaker plugin; without it, what a split process cannot do is said, not hidden.
   */
  private async startBus(): Promise<TableRow> {
    const h = this.config.host;
    if (h.redis_url !== "" && h.bus.bridge) {
      const platform = this.busPlatform;
      this.bridge = new BusBridge({ url: h.redis_url, platform, bus: this.bus, log: this.log.child({ part: "bus-bridge" }) });
      this.mirror = new PermitMirror(this.bus);
      this.mirror.start();
      if (!(await this.bridge.start())) this.log.error("bus bridge: Redis is not answering; plugins in other processes are not heard until it does");
      return { plugin: "(bus)", address: `redis platform "${platform}"`, state: "bridged", ms: 0 };
    }
    this.busGaps = missingCooperation(this.config.plugins.map((b) => b.id), this.config.declared);
    for (const gap of this.busGaps) this.log.warn("split process without a bus bridge (set host.redis_url): no cooperation across processes", { lost: gap });
    return { plugin: "(bus)", address: "this process", state: this.busGaps.length > 0 ? `local only: ${this.busGaps.length} link(s) cut` : "local", ms: 0 };
  }

  private get busPlatform(): string {
    const env = this.opts.env ?? process.env;
    return this.config.host.bus.platform ?? (/^[A-Za-z0-9_.-]{1,64}$/.test(env.TRADPAL_PLATFORM ?? "") ? env.TRADPAL_PLATFORM! : "main");
  }

  /** The bus's state for /health: bridged (and connected?), or the cooperation a split process lacks. */
  private busHealth(): Record<string, unknown> {
    if (this.bridge) return { mode: "redis", connected: this.bridge.connected, platform: this.busPlatform };
    return this.busGaps.length > 0 ? { mode: "local", missing: this.busGaps } : { mode: "local" };
  }

  /** Serialised: a reload requested during a reload runs after it, against the newest file. */
  reload(reason = "manual"): Promise<ReloadOutcome> {
    const next = this.reloadChain.then(() => this.reloadNow(reason));
    this.reloadChain = next.catch(() => undefined);
    return next;
  }

  private fail(outcome: ReloadOutcome & { ok: false }): ReloadOutcome {
    this.lastFailure = outcome.stage === "config"
      ? { at: Date.now(), stage: "config", errors: outcome.errors.map((e) => ({ path: e.path, line: e.line, message: e.message })) }
      : { at: Date.now(), stage: "apply", errors: [{ path: `plugins.${outcome.plugin}`, message: outcome.error }] };
    this.reloads.inc({ result: "failure" });
    this.lastReloadOk.set(0);
    if (outcome.stage === "config") {
      this.log.error("config reload refused: the running config keeps serving", {
        file: this.opts.file,
        errors: outcome.errors.map((e) => ({ path: e.path, line: e.line, column: e.column, message: e.message })),
      });
    } else {
      this.log.error("config reload failed while building a new instance: the running config keeps serving", { plugin: outcome.plugin, error: outcome.error });
    }
    return outcome;
  }

  private async reloadNow(reason: string): Promise<ReloadOutcome> {
    if (this.stopped) return { ok: true, changed: [] };
    const result = await this.load();
    if (!result.ok) return this.fail({ ok: false, stage: "config", errors: result.errors });
    const next = result.config;
    const hostChanged = next.hostFingerprint !== this.config.hostFingerprint;
    const nextById = new Map(next.plugins.map((b) => [b.id, b]));

    // 1. Build every changed plugin's new generation (and bind moved ports) before touching the running ones.
    interface Plan { block: PluginBlock; gen: Generation; newBound?: BoundServer; slot?: Slot }
    const plans: Plan[] = [];
    const rollback = async () => {
      for (const p of plans.reverse()) {
        p.newBound?.stop(true);
        await this.stopGeneration(p.gen);
      }
    };
    try {
      for (const block of dependencyOrder(next.plugins.map((b) => ({ ...b, dependsOn: b.definition.dependsOn })))) {
        const current = this.running.get(block.id);
        const sameListener = current && current.slot.gen.block.listener.port === block.listener.port && current.slot.gen.block.listener.hostname === block.listener.hostname;
        if (current && sameListener && !hostChanged && current.slot.gen.block.fingerprint === block.fingerprint) continue;
        const gen = await this.provisionWith(block, next);
        const plan: Plan = { block, gen };
        plans.push(plan);
        if (!current) {
          plan.slot = this.makeSlot(block.id, gen);
          plan.newBound = this.bindSlot(plan.slot, block);
        } else if (!sameListener) {
          // Bind the new port first; the old one closes only after the swap.
          plan.newBound = this.bindSlot(current.slot, block);
        }
      }
    } catch (err) {
      await rollback();
      const failed = plans.length > 0 ? plans[plans.length - 1].block.id : "?";
      return this.fail({ ok: false, stage: "apply", plugin: (err as { plugin?: string }).plugin ?? failed, error: (err as Error).message });
    }

    // 2. Swap: every changed plugin at once.
    const retired: { gen: Generation; server?: BoundServer }[] = [];
    this.config = next;
    this.log.setLevel(parseLogLevel(next.host.log_level));
    for (const plan of plans) {
      const current = this.running.get(plan.block.id);
      if (!current) {
        this.running.set(plan.block.id, { slot: plan.slot!, bound: plan.newBound!, metrics: this.metricsFor(plan.block.id), startedAt: Date.now() });
        continue;
      }
      retired.push({ gen: current.slot.gen, server: plan.newBound ? current.bound : undefined });
      current.slot.gen = plan.gen;
      if (plan.newBound) current.bound = plan.newBound;
    }
    const removed = [...this.running.keys()].filter((id) => !nextById.has(id));
    for (const id of removed) {
      const r = this.running.get(id)!;
      this.running.delete(id);
      r.slot.closing = true;
      retired.push({ gen: r.slot.gen, server: r.bound });
    }

    // 3. Drain and stop what was replaced, without holding up the caller.
    const drainMs = next.host.drain_timeout;
    const retiring = retired.map(async ({ gen, server }) => {
      if (server) {
        // A moved port lingers (served by the new generation through the shared slot) so clients can move over.
        if (nextById.has(gen.block.id)) await Bun.sleep(next.host.port_linger);
        server.stop(false);
      }
      const clean = await drained(gen, drainMs);
      if (!clean) this.log.warn("replaced instance still had requests in flight after drain_timeout; stopping it", { plugin: gen.block.id, inflight: gen.inflight });
      await this.stopGeneration(gen);
      if (!server) return;
      // WebSockets on the old listener end by the stated policy (upgrade_grace, then 1012 with a Close
      // frame each way), never cut; the reload does not wait for them.
      if (server.closeUpgraded) void server.closeUpgraded(WS_SERVICE_RESTART, "service restart", next.host.upgrade_grace).finally(() => server.stop(true));
      else server.stop(true);
    });
    // What was replaced drains in the background: a long stream on it (SSE, a download) must not hold the
    // next reload up for drain_timeout. The reload still waits the usual short while, so a caller that
    // reloads and then looks finds the old instance gone when its requests were short.
    const drainedAll = Promise.all(retiring).then(() => undefined);
    this.draining.add(drainedAll);
    void drainedAll.finally(() => this.draining.delete(drainedAll));
    await Promise.race([drainedAll, Bun.sleep(next.host.port_linger + 1000)]);

    const changed = [...plans.map((p) => p.block.id), ...removed];
    this.reloads.inc({ result: "success" });
    this.applied = { version: this.applied.version + 1, loadedAt: Date.now() };
    this.lastReloadOk.set(1);
    this.lastReloadTime.set(Date.now() / 1000);
    this.log.info("config reloaded", { reason, changed, unchanged: next.plugins.map((b) => b.id).filter((id) => !changed.includes(id)) });
    return { ok: true, changed };
  }

  /** Graceful stop: refuse new requests, let in-flight ones finish up to shutdown_grace, stop everything. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.healthPoller?.stop();
    const grace = this.config?.host.shutdown_grace ?? 10_000;
    const all = [...this.running.values()];
    for (const r of all) r.bound.stop(false);
    const results = await Promise.all(all.map((r) => drained(r.slot.gen, grace)));
    await Promise.race([Promise.all([...this.draining]), Bun.sleep(grace)]);
    // Once the requests are done, upgraded connections get a Close frame each way (1001 going away), not a cut.
    await Promise.all(all.map((r) => r.bound.closeUpgraded?.(WS_GOING_AWAY, "going away", 0)));
    results.forEach((clean, i) => {
      if (!clean) this.log.warn("shutdown grace period over with requests in flight", { plugin: all[i].slot.id, inflight: all[i].slot.gen.inflight });
    });
    for (const r of dependencyOrder(all.map((r) => ({ id: r.slot.id, dependsOn: r.slot.gen.block.definition.dependsOn, r }))).reverse()) {
      r.r.slot.closing = true;
      await this.stopGeneration(r.r.slot.gen);
      r.r.bound.stop(true);
    }
    this.running.clear();
    this.mirror?.stop();
    await this.bridge?.stop();
    this.healthServer?.stop(true);
    this.tls?.peers.stop();
    this.tls?.renewal?.stop();
    await this.shared.closeAll();
    this.log.info("host stopped");
  }

  private metricsFor(id: string): PluginMetrics {
    let m = this.pluginMetrics.get(id);
    if (!m) this.pluginMetrics.set(id, (m = createPluginMetrics(id)));
    return m;
  }

  private provision(block: PluginBlock): Promise<Generation> {
    return this.provisionWith(block, this.config);
  }

  private async provisionWith(block: PluginBlock, config: LoadedConfig): Promise<Generation> {
    const abort = new AbortController();
    const ctx: PluginContext = {
      id: block.id,
      log: this.log.child({ plugin: block.id }),
      metrics: this.metricsFor(block.id),
      bus: this.bus,
      shared: this.shared,
      signal: abort.signal,
      host: config.host,
      workers: this.opts.worker?.count ?? 1,
      // Platform mTLS for the plugin's outgoing calls: platform URLs of this config, the host's certificate.
      ...(this.tls ? { tls: platformClient(this.tls, Object.fromEntries(config.declared.map((id) => [id, config.declaredPorts[id] ?? 0])), config.host.bind) } : {}),
    };
    let instance: PluginInstance | undefined;
    try {
      instance = await block.definition.provision(block.settings as never, ctx);
      await instance.start?.();
    } catch (err) {
      abort.abort();
      if (instance) await instance.stop().catch(() => undefined);
      const e = new Error(`plugin "${block.id}" failed to start: ${(err as Error).message}`);
      (e as { plugin?: string }).plugin = block.id;
      throw e;
    }
    const app = instance.app;
    const handler = instance.fetch ?? ((req: Request) => app.handle(req));
    return { block, instance, handler, abort, inflight: 0, onIdle: [] };
  }

  private async stopGeneration(gen: Generation): Promise<void> {
    gen.abort.abort();
    try {
      await gen.instance.stop();
    } catch (err) {
      this.log.warn("plugin stop failed", { plugin: gen.block.id, err });
    }
  }

  private makeSlot(id: string, gen: Generation): Slot {
    const host = this;
    const slot: Slot = {
      id,
      gen,
      closing: false,
      async health() {
        const g = slot.gen;
        let report: { ok: boolean; reason?: string; checks?: Record<string, unknown> };
        try {
          report = g.instance.health ? await g.instance.health() : { ok: true };
        } catch (err) {
          report = { ok: false, reason: `health check threw: ${(err as Error).message}` };
        }
        const ok = report.ok && !slot.closing;
        const body = {
          status: ok ? "ok" : "unavailable",
          plugin: id,
          version: VERSION,
          uptime_s: Math.round(process.uptime()),
          ...(report.reason || slot.closing ? { reason: slot.closing ? "shutting down" : report.reason } : {}),
          ...(report.checks ? { checks: report.checks } : {}),
          bus: host.busHealth(),
          ...(host.tls ? { tls: tlsHealth(host.tls) } : {}),
        };
        return Response.json(body, { status: ok ? 200 : 503 });
      },
      async metrics() {
        if (!host.config.host.metrics_enabled) return HostErrors.HOST_ERR_NOT_FOUND("metrics are disabled (host.metrics_enabled: false)").toResponse();
        const text = await renderMetrics([host.hostRegistry, host.metricsFor(id).registry]);
        return new Response(text, { headers: { "content-type": METRICS_CONTENT_TYPE } });
      },
      async openapi() {
        const g = slot.gen;
        try {
          return Response.json(openApiDocument(id, g.block.definition.description, VERSION, g.instance));
        } catch (err) {
          host.log.error("openapi document failed", { plugin: id, err });
          return HostErrors.HOST_ERR_INTERNAL("the OpenAPI document could not be built").toResponse();
        }
      },
      async docs() { return docsPage(); },
      config: (req) => (this.configHandler ??= configEndpoint({
        file: this.opts.file,
        env: this.opts.env ?? process.env,
        resolve: this.resolve,
        only: this.opts.only,
        current: () => this.config,
        applied: () => this.applied,
        lastFailure: () => this.lastFailure,
      }))(req),
    };
    return slot;
  }

  private bindSlot(slot: Slot, block: PluginBlock): BoundServer {
    return bind(slot, block.listener.hostname, block.listener.port, this.log, { ...block.definition.serve, tls: this.tls?.server, peers: this.tls?.peers, reusePort: this.opts.worker !== undefined });
  }
}

export function printTable(rows: TableRow[]): void {
  process.stderr.write(`\nTradPal infrastructure host\n${renderTable(rows)}\n\n`);
}
