/**
 * The plugin host: loads config, provisions plugins in dependency order, binds their ports, and applies
 * a changed config as build-new → swap → drain-and-stop-old. A failure anywhere in a reload leaves the
 * running config serving and is logged with its location.
 */
import { HealthPoller } from "./health-poll";
import { configEndpoint, type FailureRecord, type ReloadRecord } from "./config-endpoint";
import { PlatformBus } from "./bus-bridge/platform-bus";
import { WS_GOING_AWAY } from "../lib/http1/ws-frames";
import type { Registry } from "prom-client";
import type { Server } from "bun";
import { createLogger, parseLogLevel, type LogSink, type RootLogger } from "../core/log";
import { createBus, type Bus } from "../core/bus";
import { createSharedPool, type SharedPool } from "../core/shared-pool";
import { createHostRegistry, createPluginMetrics, type PluginMetrics } from "../core/metrics";
import { loadConfig, formatErrors, type LoadedConfig, type PluginBlock, type PluginResolver, type ConfigError } from "../config/load";
import { directoryResolver } from "./resolve";
import { dependencyOrder } from "./order";
import { bind, drained, type BoundServer } from "./listener";
import type { Generation, Slot } from "./slot";
import type { TableRow } from "./table";
import { platformTls, bindHealthListener, applyRenewed, type PlatformTls } from "./tls";
import { provisionGeneration, stopGeneration } from "./generation";
import { makeSlot } from "./slot-endpoints";
import { createHostMetrics, type HostMetrics } from "./host-metrics";
import { retireInBackground, type Retired } from "./retire";
import { buildPlans } from "./reload-plan";
import { failureRecord, reportReloadFailure, type ReloadFailure, type ReloadOutcome } from "./reload-outcome";

export interface HostOptions {
  file: string;
  only?: string[];
  env?: Record<string, string | undefined>;
  resolve?: PluginResolver;
  logSink?: LogSink;
  /** One of several workers on the same ports (host.workers): listeners bind with SO_REUSEPORT. */
  worker?: { index: number; count: number };
}

interface RunningPlugin {
  slot: Slot;
  bound: BoundServer;
  metrics: PluginMetrics;
  startedAt: number;
}

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
  private readonly platformBus: PlatformBus;
  private healthPoller?: HealthPoller;
  /** Replaced instances still draining after their reload returned. */
  private readonly draining = new Set<Promise<void>>();
  private applied: ReloadRecord = { version: 1, loadedAt: Date.now() };
  private lastFailure?: FailureRecord;
  private configHandler?: (req: Request) => Promise<Response>;
  private readonly hostMetrics: HostMetrics;

  constructor(private readonly opts: HostOptions) {
    const env = opts.env ?? process.env;
    this.log = createLogger({ level: parseLogLevel(env.LOG_LEVEL), sink: opts.logSink, fields: { plugin: "host" } });
    this.bus = createBus(this.log);
    this.shared = createSharedPool();
    this.platformBus = new PlatformBus(this.bus, this.log, env);
    this.resolve = opts.resolve ?? directoryResolver();
    this.hostRegistry = createHostRegistry({ defaultMetrics: true });
    this.hostMetrics = createHostMetrics(this.hostRegistry, () => [...this.running].map(([id, r]) => [id, r.slot.gen.inflight] as [string, number]));
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
    const busRow = await this.platformBus.start(this.config);
    const started: RunningPlugin[] = [];
    try {
      for (const block of dependencyOrder(this.config.plugins.map((b) => ({ ...b, dependsOn: b.definition.dependsOn })))) {
        const t0 = performance.now();
        const gen = await this.provisionWith(block, this.config);
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
      await this.platformBus.stop();
      throw err;
    }
    const healthPort = this.config.host.mtls.health_port;
    if (this.tls && healthPort !== undefined) {
      this.healthServer = bindHealthListener(this.config.host.bind, healthPort, () => new Map([...this.running].map(([id, r]) => [id, r.slot])), this.config.host.mtls.open_paths);
      rows.push({ plugin: "(health)", address: `${this.config.host.bind}:${this.healthServer.port}`, state: "plain http", ms: 0 });
    }
    rows.push(busRow);
    this.healthPoller = new HealthPoller({ intervalMs: this.config.host.health_interval, slots: () => new Map([...this.running].map(([id, r]) => [id, r.slot])), bus: this.bus, gauge: this.hostMetrics.pluginHealthy });
    this.healthPoller.start();
    this.hostMetrics.lastReloadTime.set(Date.now() / 1000);
    this.log.info("host started", { plugins: rows.map((r) => `${r.plugin}@${r.address}`), config: this.opts.file });
    return rows;
  }

  /** Serialised: a reload requested during a reload runs after it, against the newest file. */
  reload(reason = "manual"): Promise<ReloadOutcome> {
    const next = this.reloadChain.then(() => this.reloadNow(reason));
    this.reloadChain = next.catch(() => undefined);
    return next;
  }

  private fail(outcome: ReloadFailure): ReloadOutcome {
    this.lastFailure = failureRecord(outcome);
    reportReloadFailure(outcome, this.opts.file, this.log, this.hostMetrics);
    return outcome;
  }

  private async reloadNow(reason: string): Promise<ReloadOutcome> {
    if (this.stopped) return { ok: true, changed: [] };
    const result = await this.load();
    if (!result.ok) return this.fail({ ok: false, stage: "config", errors: result.errors });
    const next = result.config;
    const hostChanged = next.hostFingerprint !== this.config.hostFingerprint;
    const nextById = new Map(next.plugins.map((b) => [b.id, b]));

    // 1. Build every changed plugin's new generation before touching the running ones (reload-plan.ts).
    const built = await buildPlans(next, hostChanged, {
      running: this.running,
      provision: (block, config) => this.provisionWith(block, config),
      makeSlot: (id, gen) => this.makeSlot(id, gen),
      bindSlot: (slot, block) => this.bindSlot(slot, block),
      stop: (gen) => this.stopGeneration(gen),
    });
    if (!built.ok) return this.fail({ ok: false, stage: "apply", plugin: built.plugin, error: built.error });
    const plans = built.plans;

    // 2. Swap: every changed plugin at once.
    const retired: Retired[] = [];
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

    // 3. Drain and stop what was replaced, without holding up the caller (retire.ts).
    // A long stream on it (SSE, a download) must not hold the next reload up for drain_timeout. The reload
    // still waits the usual short while, so a caller that reloads and then looks finds the old instance
    // gone when its requests were short.
    const drainedAll = retireInBackground(retired, next.host, (id) => nextById.has(id), (gen) => this.stopGeneration(gen), this.log);
    this.draining.add(drainedAll);
    void drainedAll.finally(() => this.draining.delete(drainedAll));
    await Promise.race([drainedAll, Bun.sleep(next.host.port_linger + 1000)]);

    const changed = [...plans.map((p) => p.block.id), ...removed];
    this.hostMetrics.reloads.inc({ result: "success" });
    this.applied = { version: this.applied.version + 1, loadedAt: Date.now() };
    this.hostMetrics.lastReloadOk.set(1);
    this.hostMetrics.lastReloadTime.set(Date.now() / 1000);
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
    await this.platformBus.stop();
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

  private provisionWith(block: PluginBlock, config: LoadedConfig): Promise<Generation> {
    return provisionGeneration(block, config, { log: this.log, bus: this.bus, shared: this.shared, metricsFor: (id) => this.metricsFor(id), tls: this.tls, workers: this.opts.worker?.count ?? 1 });
  }

  private stopGeneration(gen: Generation): Promise<void> {
    return stopGeneration(gen, this.log);
  }

  private makeSlot(id: string, gen: Generation): Slot {
    return makeSlot(id, gen, {
      log: this.log,
      tls: this.tls,
      busHealth: () => this.platformBus.health(),
      metricsEnabled: () => this.config.host.metrics_enabled,
      registries: (pluginId) => [this.hostRegistry, this.metricsFor(pluginId).registry],
      config: (req) => (this.configHandler ??= configEndpoint({
        file: this.opts.file,
        env: this.opts.env ?? process.env,
        resolve: this.resolve,
        only: this.opts.only,
        current: () => this.config,
        applied: () => this.applied,
        lastFailure: () => this.lastFailure,
      }))(req),
    });
  }

  private bindSlot(slot: Slot, block: PluginBlock): BoundServer {
    return bind(slot, block.listener.hostname, block.listener.port, this.log, { ...block.definition.serve, tls: this.tls?.server, peers: this.tls?.peers, reusePort: this.opts.worker !== undefined });
  }
}
