/**
 * One listener per plugin port: Bun.serve, or for a plugin with `serve.wire` the raw HTTP/1.1 front
 * (wire/front.ts) with an inner Bun.serve behind it. The server calls whatever generation (instance)
 * its slot points at, so a reload swaps a pointer instead of rebinding; GET /health and GET /metrics
 * are answered here for every plugin alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import type { Generation, Slot } from "./slot";
import type { Logger } from "../core/log";
import { HostErrors, jsonError } from "../core/errors";
import { acceptRequestId } from "../core/http";
import { RequestContext, runInRequest } from "../core/request-context";
import { HEAD_TIMEOUT_MS, listenFront } from "./wire/front";
import { PEER_FIELD, PEER_ID_FIELD, Tunnel } from "./wire/tunnel";
import type { PeerVerdict } from "./tls-peers";
import { setPeerIdentity } from "../core/peer-identity";
import { hostProblem } from "../lib/http1/host-field";
import { TARGET_FIELD, rawTarget, setRawTarget } from "../lib/http1/raw-target";

export interface BoundServer {
  hostname: string;
  port: number;
  /** force false: stop accepting and let in-flight requests finish; true: close everything now. */
  stop(force: boolean): void;
  /** Wire ports: let upgraded connections (WebSocket pipes) run up to `graceMs`, then close them cleanly. */
  closeUpgraded?(code: number, reason: string, graceMs: number): Promise<void>;
  /** Platform mTLS ports: new connections get this TLS (a renewed host certificate); none is dropped. */
  retls?(tls: Bun.TLSOptions): void;
}

export function finish(gen: Generation) {
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

/**
 * What the dispatcher needs to give every Request an absolute url whose path Elysia finds: Elysia
 * takes the path from `url.indexOf("/", 11)`, so a short authority ("http://a/auth/login") loses
 * the first segment, and Bun.serve's url for a request without a (valid) Host is the bare path.
 */
export interface DispatchBase {
  /** This listener's own origin ("http://127.0.0.1:8000"): the authority RFC 9112 §3.3 falls back to. */
  origin: string;
  /** Check the Host field here (Bun.serve takes "a@b", "a,b", "h:99999"); the wire front checked it already. */
  checkHost: boolean;
}

/** Bad Host on a plain Bun.serve port: the same 400 the wire front answers. */
function badHost(req: Request, why: string): Response {
  return jsonError(400, "HOST_ERR_BAD_REQUEST", why, undefined, undefined, { connection: "close", "x-request-id": idOf(req) });
}

const idOf = (req: Request) => acceptRequestId(req.headers.get("x-request-id"));

/** Host-made answers (/health, /metrics, errors) carry X-Request-Id like the plugins' own. */
function tagged(res: Promise<Response>, req: Request): Promise<Response> {
  const id = idOf(req);
  return res.then((r) => { r.headers.set("x-request-id", id); return r; });
}

function internalError(req: Request): Response {
  return HostErrors.HOST_ERR_INTERNAL().toResponse({ "x-request-id": idOf(req) });
}

export function createDispatcher(slot: Slot, log: Logger, base: DispatchBase = { origin: "http://localhost", checkHost: false }) {
  return function dispatch(req: Request, server: Server<unknown>): Response | Promise<Response> {
    let url = req.url;
    let pathStart = url.charCodeAt(0) === 47 ? 0 : url.indexOf("/", url.indexOf("//") + 2);
    if (base.checkHost) {
      const host = req.headers.get("host");
      if (host !== null) { const why = hostProblem(host); if (why !== undefined) return badHost(req, why); }
    }
    if (pathStart < 11) {
      // Cold path: no Host, or one shorter than 4 characters. Route on the path, whatever the Host: the
      // plugin sees the url with this listener's origin (its Host header is left as it came).
      if (pathStart === -1) pathStart = url.length;
      if (pathStart === 0 && req.headers.get("host") !== null) return badHost(req, "malformed Host");
      const original = req;
      const rebuilt = new Request(base.origin + (pathStart < url.length ? url.slice(pathStart) : "/"), original);
      const target = rawTarget(original);
      if (target !== undefined) setRawTarget(rebuilt, target);
      const view = server;
      server = { requestIP: (r: Request) => view.requestIP(r === rebuilt ? original : r) } as unknown as Server<unknown>;
      req = rebuilt;
      url = rebuilt.url;
      pathStart = url.indexOf("/", url.indexOf("//") + 2);
    }
    // A target Bun resolved ("/x/%2e%2e/metrics" → "/metrics") is not the host's own path: the plugin judges it.
    if (req.method === "GET" && rawTarget(req) === undefined) {
      if (pathIs(url, pathStart, "/health")) return tagged(slot.health(), req);
      if (pathIs(url, pathStart, "/metrics")) return tagged(slot.metrics(), req);
      if (pathIs(url, pathStart, "/openapi.json")) return tagged(slot.openapi(), req);
      if (pathIs(url, pathStart, "/docs")) return tagged(slot.docs(), req);
      if (pathIs(url, pathStart, "/-/config")) return tagged(slot.config(req), req);
    }
    if (slot.closing) {
      return jsonError(503, "HOST_ERR_SHUTTING_DOWN", HostErrors.specs.HOST_ERR_SHUTTING_DOWN.message, undefined, undefined, { connection: "close", "x-request-id": idOf(req) });
    }
    const gen = slot.gen;
    gen.inflight++;
    // The plugin handles the request inside its context: every line it logs meanwhile carries its ids.
    const ctx = new RequestContext(req.headers);
    const t0 = log.isEnabled("debug") ? performance.now() : -1;
    let result: Response | Promise<Response>;
    try {
      result = runInRequest(ctx, gen.handler, req, server);
    } catch (err) {
      finish(gen);
      log.error("plugin handler threw", { err, ...idsOf(ctx) });
      ctx.end();
      return internalError(req);
    }
    if (result instanceof Promise) {
      const settle = (gen.settle ??= [
        (res) => { finish(gen); return res; },
        (err) => { finish(gen); log.error("plugin handler rejected", { err }); return HostErrors.HOST_ERR_INTERNAL().toResponse({ "x-request-id": crypto.randomUUID() }); },
      ]);
      return result.then(
        (res) => { if (t0 >= 0) requestLine(log, ctx, req.method, url, pathStart, statusOf(res), t0); ctx.end(); return settle[0](res); },
        (err) => { const res = runInRequest(ctx, settle[1], err, undefined); ctx.end(); return res; },
      );
    }
    finish(gen);
    if (t0 >= 0) requestLine(log, ctx, req.method, url, pathStart, statusOf(result), t0);
    ctx.end();
    return result;
  };
}

/** A handler that upgraded the connection (server.upgrade) answers nothing: 101. */
const statusOf = (res: Response | undefined): number => res?.status ?? 101;
const idsOf = (ctx: RequestContext) => ({ request_id: ctx.id(), trace_id: ctx.trace(), span_id: ctx.spanId });

/** LOG_LEVEL debug: one line per plugin request, written in its context (the wire lane's are written by the front). */
function requestLine(log: Logger, ctx: RequestContext, method: string, url: string, pathStart: number, status: number, t0: number): void {
  const q = url.indexOf("?", pathStart);
  const fields = { method, path: q === -1 ? url.slice(pathStart) : url.slice(pathStart, q), status, ms: Math.round((performance.now() - t0) * 100) / 100 };
  runInRequest(ctx, debugRequest, log, fields);
}
const debugRequest = (log: Logger, fields: Record<string, unknown>) => log.debug("request", fields);

export class PortInUseError extends Error {
  constructor(readonly plugin: string, readonly hostname: string, readonly port: number) {
    super(`port ${port} on ${hostname} for plugin "${plugin}" is already in use: stop the process holding it or change plugins.${plugin}.port`);
    this.name = "PortInUseError";
  }
}

export interface BindOptions {
  maxRequestBodySize?: number;
  idleTimeout?: number;
  tls?: Bun.TLSOptions;
  /** Serve the port with the raw HTTP/1.1 front (plugin serve.wire); ignored with TLS. */
  wire?: boolean;
  /** Wire front only: how long a request head may take to arrive before 408. */
  headTimeoutMs?: number;
  /** SO_REUSEPORT: several worker processes listen on the port (host.workers). */
  reusePort?: boolean;
  /**
   * Platform mTLS with a live verdict per client certificate (revocation, SPIFFE ID; src/host/tls-peers.ts):
   * the port is served by the front (Bun.listen sees the peer certificate; Bun.serve does not), TLS
   * terminated there, every plugin's requests relayed to its inner Bun.serve.
   */
  peers?: PeerVerdict;
}

function isPortInUse(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "EADDRINUSE" || /in use|EADDRINUSE/i.test(String((err as Error).message));
}

export function bind(slot: Slot, hostname: string, port: number, log: Logger, opts: BindOptions = {}): BoundServer {
  if ((opts.wire && !opts.tls) || (opts.tls && opts.peers)) return bindWire(slot, hostname, port, log, opts);
  const base: DispatchBase = { origin: "", checkHost: true };
  const dispatch = createDispatcher(slot, log.child({ plugin: slot.id }), base);
  try {
    const server = serveWith(opts, log, { hostname, port, reusePort: opts.reusePort ?? false, ...(opts.tls ? { tls: opts.tls } : {}) }, dispatch);
    base.origin = ownOrigin(opts.tls ? "https" : "http", hostname, server.port ?? port);
    return { hostname, port: server.port ?? port, stop: (force) => { server.stop(force); } };
  } catch (err) {
    if (isPortInUse(err)) throw new PortInUseError(slot.id, hostname, port);
    throw err;
  }
}

/** "http://127.0.0.1:8000" for a listener (IPv6 in brackets; a wildcard address reads as loopback). */
function ownOrigin(scheme: string, hostname: string, port: number): string {
  const h = hostname === "0.0.0.0" || hostname === "" ? "127.0.0.1" : hostname === "::" ? "[::1]" : hostname.indexOf(":") !== -1 ? `[${hostname}]` : hostname;
  const origin = `${scheme}://${h}:${port}`;
  return origin.length >= 11 ? origin : `${scheme}://localhost:${port}`;
}

function serveWith(opts: BindOptions, log: Logger, where: Record<string, unknown>, fetch: (req: Request, server: Server<unknown>) => Response | Promise<Response>): Server<unknown> {
  return Bun.serve({
    ...where,
    idleTimeout: opts.idleTimeout ?? 120,
    maxRequestBodySize: opts.maxRequestBodySize ?? 128 * 1024 * 1024,
    fetch,
    error(err) {
      log.error("server error", { err });
      return HostErrors.HOST_ERR_INTERNAL().toResponse({ "x-request-id": crypto.randomUUID() });
    },
  } as Parameters<typeof Bun.serve>[0]);
}


/**
 * A wire port: the raw front on the public address, and an inner Bun.serve on a private unix socket
 * for what the fast path declines. The inner server learns the TCP peer from the front's PEER_FIELD.
 */
function bindWire(slot: Slot, hostname: string, port: number, log: Logger, opts: BindOptions): BoundServer {
  const base: DispatchBase = { origin: "", checkHost: false }; // the front checked Host
  const dispatch = createDispatcher(slot, log.child({ plugin: slot.id }), base);
  const peers = new WeakMap<Request, string>();
  const peerView = { requestIP: (req: Request) => ({ address: peers.get(req) ?? "", family: "IPv4", port: 0 }) } as unknown as Server<unknown>;
  // A private (0700) directory: only this user can reach the inner server, so nobody else can claim a
  // client address through the peer field.
  const innerDir = mkdtempSync(join(tmpdir(), "tradpal-"));
  const unixPath = join(innerDir, `${slot.id}.sock`);
  const inner = serveWith(opts, log, { unix: unixPath }, (req) => {
    const h = req.headers;
    peers.set(req, h.get(PEER_FIELD) ?? "");
    h.delete(PEER_FIELD);
    const peerId = h.get(PEER_ID_FIELD);
    if (peerId !== null) { setPeerIdentity(req, peerId); h.delete(PEER_ID_FIELD); }
    const target = h.get(TARGET_FIELD);
    if (target !== null) { setRawTarget(req, target); h.delete(TARGET_FIELD); }
    return dispatch(req, peerView);
  });
  const tunnel = new Tunnel(unixPath);
  let front;
  try {
    front = listenFront({ hostname, port, reusePort: opts.reusePort ?? false, slot, log: log.child({ plugin: slot.id }), tunnel, idleTimeoutS: opts.idleTimeout ?? 120, headTimeoutMs: opts.headTimeoutMs ?? HEAD_TIMEOUT_MS, finish, ...(opts.tls && opts.peers ? { tls: opts.tls, peers: opts.peers } : {}) });
  } catch (err) {
    inner.stop(true);
    rmSync(innerDir, { recursive: true, force: true });
    if (isPortInUse(err)) throw new PortInUseError(slot.id, hostname, port);
    throw err;
  }
  base.origin = ownOrigin(opts.tls && opts.peers ? "https" : "http", hostname, front.port);
  return {
    hostname,
    port: front.port,
    closeUpgraded: (code, reason, graceMs) => front.closeUpgraded(code, reason, graceMs),
    ...(opts.tls && opts.peers ? { retls: (tls: Bun.TLSOptions) => front.retls(tls) } : {}),
    stop(force) {
      front.stop(force);
      inner.stop(force);
      if (force) { tunnel.stop(); rmSync(innerDir, { recursive: true, force: true }); }
    },
  };
}
