/**
 * Optional edge policy (JWT, scopes, rate limits, /auth/login), built in plugins/gateway/edge/ by
 * another team member against edge/contract.ts. Loaded when edge/index.ts exists and imports cleanly,
 * so the proxy core keeps working (and routes needing auth fail closed) without it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TObject, TProperties } from "@sinclair/typebox";
import type { PluginContext } from "../../src/core/plugin";
import type { EdgePolicy, EdgeRoute, EdgeUpstreamTlsProvider } from "./edge/contract";

export interface EdgeModule {
  EdgeSettingsSchema: TObject<TProperties>;
  /** Optional: a service's `tls` block (upstream TLS / mTLS), added to the core's service schema. */
  ServiceTlsSchema?: TObject<TProperties>;
  createEdgePolicy(settings: any, ctx: PluginContext, routes: EdgeRoute[]): Promise<EdgePolicy & EdgeUpstreamTlsProvider>;
}

const EDGE_FILE = join(import.meta.dir, "edge", "index.ts");

async function loadEdge(): Promise<{ module?: EdgeModule; error?: string }> {
  if (process.env.GATEWAY_DISABLE_EDGE === "1" || !existsSync(EDGE_FILE)) return {};
  try {
    const mod = (await import(EDGE_FILE)) as Partial<EdgeModule>;
    if (!mod.EdgeSettingsSchema || typeof mod.createEdgePolicy !== "function") return { error: "edge/index.ts lacks EdgeSettingsSchema or createEdgePolicy" };
    return { module: mod as EdgeModule };
  } catch (err) {
    return { error: `edge/index.ts failed to load: ${(err as Error).message}` };
  }
}

const loaded = await loadEdge();
export const edgeModule: EdgeModule | undefined = loaded.module;
/** Why the edge module is absent although its file exists (reported in /health checks). */
export const edgeLoadError: string | undefined = loaded.error;
/** Top-level keys of the gateway block that belong to the edge policy. */
export const EDGE_KEYS: readonly string[] = edgeModule ? Object.keys(edgeModule.EdgeSettingsSchema.properties) : [];
