/**
 * What a listener serves through: a slot per plugin port, pointing at the current generation (the running
 * instance of one plugin config). A reload swaps the pointer; the listener and the wire front read it per
 * request. Types only, so the listener and the front share them without importing each other.
 */
import type { FetchHandler, PluginInstance } from "../core/plugin";
import type { PluginBlock } from "../config/load";

/** A provisioned, started instance of one plugin config. */
export interface Generation {
  block: PluginBlock;
  instance: PluginInstance;
  handler: FetchHandler;
  abort: AbortController;
  inflight: number;
  /** Resolves waiters when inflight drops to zero. */
  onIdle: (() => void)[];
  /** The then() callbacks for async responses, made once per generation (not two closures per request). */
  settle?: [(res: Response) => Response, (err: unknown) => Response];
}

export interface Slot {
  id: string;
  gen: Generation;
  closing: boolean;
  health(): Promise<Response>;
  metrics(): Promise<Response>;
  /** GET /openapi.json and GET /docs (src/host/openapi.ts): host-served, so no plugin catch-all takes them. */
  openapi(): Promise<Response>;
  docs(): Promise<Response>;
  /** GET /-/config (src/host/config-endpoint.ts): the running configuration, admin token required. */
  config(req: Request): Promise<Response>;
}
