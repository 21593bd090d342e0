/**
 * The contract between the host and a plugin. Interfaces only: the host knows plugins through
 * this file alone, and plugins know the host through the context it hands them.
 */
import type { TSchema, StaticDecode } from "@sinclair/typebox";
import type { AnyElysia } from "elysia";
import type { Server } from "bun";
import type { Logger } from "./log";
import type { PluginMetrics } from "./metrics";
import type { Bus } from "./bus";
import type { SharedPool } from "./shared-pool";
import type { HostSettings } from "../config/host-schema";
import type { WireHandler } from "./wire";

export interface PluginContext {
  /** Same string as the config key (`plugins.<id>`) and the logger name. */
  readonly id: string;
  readonly log: Logger;
  /** Get-or-create metric factory; names get the common prefix; survives reloads. */
  readonly metrics: PluginMetrics;
  /** Typed in-process bus shared by every plugin of this process. */
  readonly bus: Bus;
  /** State that must outlive a reload, keyed by identity (upstream health, breaker windows, CA keys...). */
  readonly shared: SharedPool;
  /** Aborted when this instance is being stopped (reload swap or shutdown). */
  readonly signal: AbortSignal;
  /** Host-wide settings (data dir, redis url, tls of the platform...). Frozen. */
  readonly host: HostSettings;
  /** Platform mTLS for the plugin's own outgoing calls (host.mtls.enabled); undefined when mTLS is off. */
  readonly tls?: PlatformTlsClient;
  /**
   * How many processes of this host serve the same ports (host.workers; 1 when not set). A plugin whose
   * state is per process (local rate-limit counters) scales its share by it.
   */
  readonly workers?: number;
}

/**
 * With host.mtls.enabled every platform listener requires a client certificate from the platform CA, so
 * a plugin calling another one (the gateway's upstreams and JWKS, webhooks to platform ports) must speak
 * https and present the host's certificate. This is all it needs for that (src/host/tls.ts builds it).
 */
export interface PlatformTlsClient {
  /** The host's certificate + key and the platform CA, current (re-read after a renewal; same object between). */
  material(): { cert: string; key: string; ca: string };
  /** Their files, for components that watch files themselves (the gateway's upstream TLS). */
  readonly files: { cert: string; key: string; ca: string };
  /** True when `url` names a platform plugin's listener: a declared plugin port on loopback/this host, or a plugin's id as host name. */
  isPlatform(url: string): boolean;
  /** A platform URL with https (plain http to a platform port can only fail); any other URL unchanged. */
  upgrade(url: string): string;
  /** fetch()'s `tls` for `url`: the platform material for a platform URL, else undefined (default trust). */
  fetchTls(url: string): { cert: string; key: string; ca: string } | undefined;
}

export interface HealthReport {
  /** true → 200, false → 503. */
  ok: boolean;
  /** Why not ok, in words an operator can act on. */
  reason?: string;
  /** Dependency-by-dependency detail, e.g. { redis: "up", store: "embedded" }. */
  checks?: Record<string, unknown>;
}

export type FetchHandler = (req: Request, server: Server<unknown>) => Response | Promise<Response>;

export interface PluginInstance {
  /** Routes only: the host binds the port. GET /health and GET /metrics are served by the host. */
  app: AnyElysia;
  /**
   * Optional raw handler used instead of `app.fetch` (a hot path that bypasses Elysia's router,
   * e.g. the gateway's proxy). It receives every request except /health and /metrics.
   */
  fetch?: FetchHandler;
  /**
   * Raw HTTP/1.1 fast path, tried before `fetch` on a port whose definition sets `serve.wire`. Offered whole
   * bodies only, unless the handler opts in to streamed bodies and Expect (`streamsBodies`) or HTTP/1.0
   * (`takesHttp10`): see wire.ts.
   */
  wire?: WireHandler;
  /** Consumers, timers, anything that needs the instance to be live. */
  start?(): Promise<void>;
  /** Idempotent; safe after a half-finished provision. */
  stop(): Promise<void>;
  /** Readiness of this plugin and its dependencies; default: ok. */
  health?(): HealthReport | Promise<HealthReport>;
  /** What GET /openapi.json and /docs add to `app`'s routes (src/host/openapi.ts). */
  docs?: PluginDocs;
}

/** A route served outside Elysia's router (a fast path, a proxied prefix): listed in /openapi.json. */
export interface DocRoute {
  method: string;
  /** OpenAPI template: /secrets/{path} */
  path: string;
  summary: string;
  tag?: string;
  /** JSON request body schema (TypeBox is JSON Schema): a fast path's body is documented like a route's. */
  body?: TSchema;
}

export interface PluginDocs {
  /** Further Elysia apps on this port (their TypeBox schemas are documented too), e.g. the gateway edge's /auth/*. */
  apps?: AnyElysia[];
  /** Read per request: routes that change at run time (the gateway's services) stay current. */
  routes?: () => DocRoute[];
}

export interface PluginDefinition<S extends TSchema = TSchema> {
  /** Same string as the config key and the log name. */
  id: string;
  /** One-line description for the start-up table and README. */
  description: string;
  /** Default port (the plugin table: gateway 8000, security 8009, events 8011, breaker 8012, falco 8013). */
  defaultPort: number;
  /**
   * The plugin's own settings (everything in `plugins.<id>` except the listener keys the host owns:
   * enabled, port, hostname). Validated at load, defaults applied, then frozen.
   */
  schema: S;
  /** Plugins that must be started before this one (when both are enabled in this process). */
  dependsOn?: readonly string[];
  /** Listener options fixed for the life of the port (body limit, idle timeout in seconds). */
  serve?: {
    maxRequestBodySize?: number;
    idleTimeout?: number;
    /** Front the port with the host's raw HTTP/1.1 listener so `instance.wire` can take requests first (plain HTTP ports only). */
    wire?: boolean;
    /** With `wire`: how long a request head may take to arrive before 408 (default 30 s). */
    headTimeoutMs?: number;
  };
  /** Build an instance. No ports are bound here. */
  provision(config: StaticDecode<S>, ctx: PluginContext): Promise<PluginInstance>;
}

/** Any plugin, whatever its schema (provision's parameter makes the generic invariant). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPluginDefinition = PluginDefinition<any>;

/** Identity helper that keeps the schema's decoded type (durations in ms, rates as objects) attached to provision's config. */
export function definePlugin<S extends TSchema>(def: PluginDefinition<S>): PluginDefinition<S> {
  return def;
}
