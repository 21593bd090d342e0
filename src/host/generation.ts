/**
 * One generation's life: provision a plugin block into a started instance (its PluginContext built from the
 * host's shared services), and stop it. A failure to start names the plugin, so a reload says which one.
 */
import type { LoadedConfig, PluginBlock } from "../config/load";
import type { Bus } from "../core/bus";
import type { RootLogger } from "../core/log";
import type { PluginMetrics } from "../core/metrics";
import type { PluginContext, PluginInstance } from "../core/plugin";
import type { SharedPool } from "../core/shared-pool";
import type { Generation } from "./slot";
import { platformClient, type PlatformTls } from "./tls";

export interface GenerationDeps {
  log: RootLogger;
  bus: Bus;
  shared: SharedPool;
  metricsFor(id: string): PluginMetrics;
  tls?: PlatformTls;
  workers: number;
}

export async function provisionGeneration(block: PluginBlock, config: LoadedConfig, d: GenerationDeps): Promise<Generation> {
  const abort = new AbortController();
  const ctx: PluginContext = {
    id: block.id,
    log: d.log.child({ plugin: block.id }),
    metrics: d.metricsFor(block.id),
    bus: d.bus,
    shared: d.shared,
    signal: abort.signal,
    host: config.host,
    workers: d.workers,
    // Platform mTLS for the plugin's outgoing calls: platform URLs of this config, the host's certificate.
    ...(d.tls ? { tls: platformClient(d.tls, Object.fromEntries(config.declared.map((id) => [id, config.declaredPorts[id] ?? 0])), config.host.bind) } : {}),
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

export async function stopGeneration(gen: Generation, log: RootLogger): Promise<void> {
  gen.abort.abort();
  try {
    await gen.instance.stop();
  } catch (err) {
    log.warn("plugin stop failed", { plugin: gen.block.id, err });
  }
}
