/**
 * One Bun.serve per plugin port. The server calls whatever generation (instance) its slot points at,
 * so a reload swaps a pointer instead of rebinding; GET /health and GET /metrics are answered here
 * for every plugin alike.
 */
import type { Server } from "bun";
import type { FetchHandler, PluginInstance } from "../core/plugin";
import type { Logger } from "../core/log";
import { HostErrors, jsonError } from "../core/errors";
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
}

export interface BoundServer {
  server: Server<unknown>;
  hostname: string;
  port: number;
}

function finish(gen: Generation) {
  if (--gen.inflight === 0 && gen.onIdle.length > 0) {
    const waiters = gen.onIdle.splice(0);
    for (const w of waiters) w();
  }
}

/** Wait until a generation has no request in flight, or the timeout passes (→ false). */
export function drained(gen: Generation, timeoutMs: number): Promise<boolean> {
  if (gen.inflight === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    gen.onIdle.push(() => { clearTimeout(timer); resolve(true); });
  });
}

/** True when the URL's path is exactly `path` (query allowed). No allocation: this runs per request. */
function pathIs(url: string, start: number, path: string): boolean {
  if (!url.startsWith(path, start)) return false;
  const end = start + path.length;
  return url.length === end || url.charCodeAt(end) === 63; /* ? */
}

export function createDispatcher(slot: Slot, log: Logger) {
  return function dispatch(req: Request, server: Server<unknown>): Response | Promise<Response> {
    const url = req.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    if (req.method === "GET") {
      if (pathIs(url, pathStart, "/health")) return slot.health();
      if (pathIs(url, pathStart, "/metrics")) return slot.metrics();
    }
    if (slot.closing) {
      return jsonError(503, "HOST_ERR_SHUTTING_DOWN", HostErrors.specs.HOST_ERR_SHUTTING_DOWN.message, undefined, undefined, { connection: "close" });
    }
    const gen = slot.gen;
    gen.inflight++;
    let result: Response | Promise<Response>;
    try {
      result = gen.handler(req, server);
    } catch (err) {
      finish(gen);
      log.error("plugin handler threw", { err });
      return HostErrors.HOST_ERR_INTERNAL().toResponse();
    }
    if (result instanceof Promise) {
      const settle = (gen.settle ??= [
        (res) => { finish(gen); return res; },
        (err) => { finish(gen); log.error("plugin handler rejected", { err }); return HostErrors.HOST_ERR_INTERNAL().toResponse(); },
      ]);
      return result.then(settle[0], settle[1]);
    }
    finish(gen);
    return result;
  };
}

export class PortInUseError extends Error {
  constructor(readonly plugin: string, readonly hostname: string, readonly port: number) {
    super(`port ${port} on ${hostname} for plugin "${plugin}" is already in use: stop the process holding it or change plugins.${plugin}.port`);
    this.name = "PortInUseError";
  }
}

export function bind(slot: Slot, hostname: string, port: number, log: Logger, opts: { maxRequestBodySize?: number; idleTimeout?: number; tls?: Bun.TLSOptions } = {}): BoundServer {
  const dispatch = createDispatcher(slot, log);
  try {
    const server = Bun.serve({
      hostname,
      port,
      reusePort: false,
      idleTimeout: opts.idleTimeout ?? 120,
      maxRequestBodySize: opts.maxRequestBodySize ?? 128 * 1024 * 1024,
      ...(opts.tls ? { tls: opts.tls } : {}),
      fetch: dispatch,
      error(err) {
        log.error("server error", { err });
        return HostErrors.HOST_ERR_INTERNAL().toResponse();
      },
    });
    return { server, hostname, port: server.port ?? port };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE" || /in use|EADDRINUSE/i.test(String((err as Error).message))) throw new PortInUseError(slot.id, hostname, port);
    throw err;
  }
}
