/**
 * The proxy hot path: limits → route → edge policy → breaker permit → pick an instance → forward
 * (streaming both ways) → retries within budget → metrics, outcome, access log. Everything it can,
 * it reads from structures compiled at provision time.
 */
import type { Server } from "bun";
import type { Bus } from "../../src/core/bus";
import type { Logger } from "../../src/core/log";
import { mintTraceparent, requestIdFrom } from "./trace";
import { Bulkhead, BulkheadRejectedError, fullJitterBackoff } from "../../src/core/resilience";
import type { EdgeDecision, EdgePolicy, EdgeUpstreamTlsProvider } from "./edge/contract";
import { RouteTable, METHOD_MISMATCH, hostOnly, stripPrefix } from "./routing";
import type { CompiledRoute } from "./route";
import { applyHeaderProgram, applyUrlProgram } from "./transforms";
import { framingProblem, headerBlock, headerBytes, setForwardingHeaders, stripHopByHop, type ForwardingInfo } from "./headers";
import { gatewayError, type GatewayErrorCode } from "./errors";
import { observeLatency, recordOutcome } from "./upstream-state";
import { UpstreamError, classifyFetchError, type UpstreamClient, type UpstreamResponse } from "./upstream-client";
import { statusClass, type CellHistogram, type CounterCell } from "./metrics";
import type { AccessLog } from "./access-log";
import type { Member } from "./balancers";

/** Bun refuses header sections above this itself (431), so our own count is needed only below it. */
const BUN_HEADER_LIMIT = 16 * 1024;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

export interface ProxyOptions {
  table: RouteTable<CompiledRoute>;
  client: UpstreamClient;
  maxBodySize: number;
  maxHeaderSize: number;
  trustForwarded: boolean;
  /** Edge policy, when loaded. Routes needing auth fail closed without it. */
  policy?: EdgePolicy & EdgeUpstreamTlsProvider;
  /** Exact paths served by the edge app (login...). */
  edgePaths: ReadonlySet<string>;
  /** The gateway's own REST app (/services...). */
  admin: (req: Request) => Response | Promise<Response>;
  bus: Bus;
  log: Logger;
  accessLog: AccessLog;
  /** requests_total cells for requests no route took. */
  unroutedCells: readonly CounterCell[];
  latency: CellHistogram;
}

function isOwnPath(path: string): boolean {
  return path.startsWith("/services") && (path.length === 9 || path.charCodeAt(9) === 47);
}

/** Count streamed request bytes and fail the stream past the limit (bodies without Content-Length). */
function limitBody(body: ReadableStream<Uint8Array>, max: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > max) controller.error(new UpstreamError("body-limit", "request body too large"));
      else controller.enqueue(chunk);
    },
  }));
}

export function createProxyHandler(o: ProxyOptions) {
  const { table, client, bus, accessLog } = o;
  const checkHeaderSize = o.maxHeaderSize < BUN_HEADER_LIMIT;

  function finish(route: CompiledRoute | undefined, req: Request, path: string, res: Response, requestId: string, clientIp: string, t0: number, member?: Member, attempts?: number, code?: string): Response {
    const cells = route ? route.statusCells : o.unroutedCells;
    cells[statusClass(res.status)].value++;
    if (accessLog.wants(res.status, code !== undefined)) {
      accessLog.write({
        method: req.method, path, status: res.status, service: route?.svc.name ?? "-", route: route?.id ?? "-",
        instance: member?.url, ms: Math.round((performance.now() - t0) * 100) / 100, request_id: requestId, client: clientIp, attempts, code,
      });
    }
    return res;
  }

  function fail(code: GatewayErrorCode, route: CompiledRoute | undefined, req: Request, path: string, requestId: string, clientIp: string, t0: number, message?: string, headers?: Record<string, string>, member?: Member, attempts?: number): Response {
    const fallback = route?.fallback?.[code];
    if (fallback !== undefined) {
      const res = fallback();
      res.headers.set("x-request-id", requestId);
      return finish(route, req, path, res, requestId, clientIp, t0, member, attempts, code);
    }
    return finish(route, req, path, gatewayError(code, requestId, message, headers), requestId, clientIp, t0, member, attempts, code);
  }

  async function forward(req: Request, route: CompiledRoute, path: string, query: string, clientIp: string, requestId: string, t0: number, decision: EdgeDecision | undefined): Promise<Response> {
    const svc = route.svc;
    const h = req.headers;
    const cl = h.get("content-length");
    const hasBody = (cl !== null && cl !== "0") || h.get("transfer-encoding") !== null;

    // Upstream path: strip prefix, then the route's rewrite.
    const upstreamPath = route.strip ? stripPrefix(path, route.prefix) : path;
    const pathAndQuery = route.transforms.url ? applyUrlProgram(upstreamPath, query, route.transforms.url) : upstreamPath + query;

    const host = h.get("host");
    const forwarding: ForwardingInfo = {
      clientIp, proto: req.url.charCodeAt(4) === 115 /* https */ ? "https" : "http", host, requestId,
      traceparent: mintTraceparent(h.get("traceparent")), trustChain: o.trustForwarded,
    };
    let out: Headers | string;
    if (client.acceptsHeaderBlock && route.transforms.requestInBlock) {
      // Hot path: one pass over the client's headers into the serialised block the pooled client writes.
      out = headerBlock(h, forwarding, route.preserveHost, route.transforms.request, route.transforms.requestBlock);
    } else {
      out = new Headers(h);
      stripHopByHop(out);
      if (!route.preserveHost) out.delete("host");
      setForwardingHeaders(out, forwarding);
      if (route.transforms.request) applyHeaderProgram(out, route.transforms.request);
    }

    let body: ReadableStream<Uint8Array> | null = hasBody ? req.body : null;
    if (body !== null && cl === null) body = limitBody(body, o.maxBodySize);

    const retryable = route.retryAttempts > 0 && body === null && (IDEMPOTENT.has(req.method) || route.retryNonIdempotent);
    const now0 = Date.now();
    svc.budget.recordRequest(now0);

    // One deadline for the whole exchange (all attempts) up to the response headers.
    const deadline = now0 + route.timeoutMs;

    let exclude: Member | undefined;
    let attempt = 0;
    for (;;) {
      const now = attempt === 0 ? now0 : Date.now();
      const member = svc.balancer.pick(svc.members, now, exclude) ?? (exclude ? svc.balancer.pick(svc.members, now) : undefined);
      if (member === undefined) {
        return fail("GW_ERR_NO_HEALTHY_UPSTREAM", route, req, path, requestId, clientIp, t0, `no healthy instance of service "${svc.name}" is available`, { "retry-after": "1" }, undefined, attempt + 1);
      }
      const state = member.state;
      state.active++;
      const started = performance.now();
      let res: UpstreamResponse | undefined;
      let err: UpstreamError | undefined;
      try {
        res = await client.send({ base: member.url, path: pathAndQuery, method: req.method, headers: out, blockHasHost: route.preserveHost && host !== null, blockHasLength: cl !== null, body, connectTimeoutMs: route.connectTimeoutMs, deadline, tls: svc.tlsSource?.get() });
      } catch (e) {
        err = classifyFetchError(e, false);
      } finally {
        state.active--;
      }
      const latencyMs = performance.now() - started;
      const doneAt = now + latencyMs;
      const failed = err !== undefined ? err.kind !== "body-limit" : res!.status >= 500;
      if (err === undefined || err.kind !== "body-limit") {
        observeLatency(state, latencyMs, doneAt);
        if (recordOutcome(state, failed, svc.settings.outlier, doneAt)) {
          svc.ejections.value++;
          o.log.warn("instance ejected", { service: svc.name, instance: member.url, until: new Date(state.ejectedUntil).toISOString(), reason: err ? err.kind : `status ${res!.status}` });
        }
      }
      if (res !== undefined) o.latency.observe(svc.latency, latencyMs / 1000);
      if (bus.hasListeners("upstream.outcome")) {
        bus.emit("upstream.outcome", { service: svc.name, status: res ? res.status : 0, latencyMs, instance: member.url, ...(err ? { error: err.kind === "connect" || err.kind === "timeout" || err.kind === "reset" ? err.kind : "other" } : {}) });
      }

      const wantRetry = retryable && attempt < route.retryAttempts && doneAt < deadline &&
        (err !== undefined ? err.kind === "connect" || err.kind === "reset" : route.retryStatuses.has(res!.status));
      if (wantRetry) {
        if (svc.budget.tryRetry(doneAt)) {
          svc.retriesSent.value++;
          res?.discard();
          const delay = fullJitterBackoff(attempt, route.backoffBaseMs, route.backoffCapMs);
          if (delay > 0) await Bun.sleep(delay);
          attempt++;
          exclude = member;
          continue;
        }
        svc.retriesDenied.value++;
      }

      if (err !== undefined) {
        switch (err.kind) {
          case "body-limit": return fail("GW_ERR_BODY_TOO_LARGE", route, req, path, requestId, clientIp, t0, `request body exceeds ${o.maxBodySize} bytes`, { connection: "close" }, member, attempt + 1);
          case "timeout": return fail("GW_ERR_PROXY_UPSTREAM_TIMEOUT", route, req, path, requestId, clientIp, t0, `service "${svc.name}" did not answer within ${route.timeoutMs} ms`, undefined, member, attempt + 1);
          case "connect": return fail("GW_ERR_PROXY_UPSTREAM_CONNECT", route, req, path, requestId, clientIp, t0, `could not connect to an instance of service "${svc.name}"`, undefined, member, attempt + 1);
          case "reset": return fail("GW_ERR_PROXY_UPSTREAM_RESET", route, req, path, requestId, clientIp, t0, undefined, undefined, member, attempt + 1);
          default: return fail("GW_ERR_PROXY_FAILED", route, req, path, requestId, clientIp, t0, undefined, undefined, member, attempt + 1);
        }
      }

      const up = res!;
      const rh = up.headers;
      rh.set("x-request-id", requestId);
      if (route.transforms.response) applyHeaderProgram(rh, route.transforms.response);
      const extra = decision?.responseHeaders;
      if (extra) for (let i = 0; i < extra.length; i++) rh.append(extra[i][0], extra[i][1]);
      const response = new Response(up.body as BodyInit | null, { status: up.status, statusText: up.statusText, headers: rh });
      return finish(route, req, path, response, requestId, clientIp, t0, member, attempt + 1);
    }
  }

  function handle(req: Request, server: Server<unknown>): Response | Promise<Response> {
    const t0 = performance.now();
    const url = req.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const q = url.indexOf("?", pathStart);
    const path = q === -1 ? url.slice(pathStart) : url.slice(pathStart, q);
    const query = q === -1 ? "" : url.slice(q);

    if (isOwnPath(path)) return o.admin(req);
    if (o.policy !== undefined && o.edgePaths.has(path)) {
      const p = o.policy;
      return p.handleOwn !== undefined ? p.handleOwn(req, server.requestIP(req)?.address ?? "") : p.app.handle(req);
    }

    const h = req.headers;
    const clientIp = server.requestIP(req)?.address ?? "";
    const requestId = requestIdFrom(h.get("x-request-id"));

    const framing = framingProblem(h);
    if (framing !== undefined) return fail("GW_ERR_AMBIGUOUS_LENGTH", undefined, req, path, requestId, clientIp, t0, `refused: ${framing}`, { connection: "close" });
    if (checkHeaderSize && headerBytes(h) > o.maxHeaderSize) return fail("GW_ERR_HEADERS_TOO_LARGE", undefined, req, path, requestId, clientIp, t0, `request headers exceed ${o.maxHeaderSize} bytes`, { connection: "close" });
    const cl = h.get("content-length");
    if (cl !== null && Number(cl) > o.maxBodySize) return fail("GW_ERR_BODY_TOO_LARGE", undefined, req, path, requestId, clientIp, t0, `request body exceeds ${o.maxBodySize} bytes`, { connection: "close" });
    if (path.indexOf("/.") !== -1 && /\/\.\.?(\/|$)/.test(path)) return fail("GW_ERR_BAD_REQUEST", undefined, req, path, requestId, clientIp, t0, "dot segments are not allowed in the path");

    const route = table.match(path, table.hostRoutes ? hostOnly(h.get("host")) : "", req.method);
    if (route === undefined) return fail("GW_ERR_NO_ROUTE", undefined, req, path, requestId, clientIp, t0, `no service is routed at ${path}`);
    if (route === METHOD_MISMATCH) return fail("GW_ERR_METHOD_NOT_ALLOWED", undefined, req, path, requestId, clientIp, t0, `${req.method} is not allowed at ${path}`);

    if (o.policy === undefined) {
      if (route.edge.authRequired) return fail("GW_ERR_EDGE_UNAVAILABLE", route, req, path, requestId, clientIp, t0);
      return admitted(req, route, path, query, clientIp, requestId, t0, undefined);
    }
    const decision = o.policy.check(req, route.edge, clientIp);
    if (decision instanceof Promise) {
      return decision.then((d) => d.reject ? finish(route, req, path, d.reject, requestId, clientIp, t0) : admitted(req, route, path, query, clientIp, requestId, t0, d));
    }
    if (decision.reject) return finish(route, req, path, decision.reject, requestId, clientIp, t0);
    return admitted(req, route, path, query, clientIp, requestId, t0, decision);
  }

  function admitted(req: Request, route: CompiledRoute, path: string, query: string, clientIp: string, requestId: string, t0: number, decision: EdgeDecision | undefined): Response | Promise<Response> {
    const permit = bus.service("breaker.permit");
    if (permit !== undefined) {
      const p = permit(route.svc.name);
      if (!p.allowed) {
        return fail("GW_ERR_CIRCUIT_OPEN", route, req, path, requestId, clientIp, t0, `the circuit breaker for service "${route.svc.name}" is ${p.state}`, { "retry-after": String(Math.max(1, Math.ceil(p.retryAfterMs / 1000))) });
      }
    }
    const bulkhead = route.svc.bulkhead;
    if (bulkhead === undefined) return forward(req, route, path, query, clientIp, requestId, t0, decision);
    if (bulkhead.tryEnter()) return forwardInside(bulkhead, req, route, path, query, clientIp, requestId, t0, decision);
    if (bulkhead.queued >= bulkhead.maxQueue) return bulkheadFull(route, req, path, requestId, clientIp, t0, "queue_full");
    return bulkhead.enter().then(
      () => forwardInside(bulkhead, req, route, path, query, clientIp, requestId, t0, decision),
      (err: unknown) => bulkheadFull(route, req, path, requestId, clientIp, t0, err instanceof BulkheadRejectedError ? err.reason : "queue_full"),
    );
  }

  /** The slot is held until the upstream's response head (or failure), then handed to the next in queue. */
  async function forwardInside(bulkhead: Bulkhead, req: Request, route: CompiledRoute, path: string, query: string, clientIp: string, requestId: string, t0: number, decision: EdgeDecision | undefined): Promise<Response> {
    try {
      return await forward(req, route, path, query, clientIp, requestId, t0, decision);
    } finally {
      bulkhead.leave();
    }
  }

  function bulkheadFull(route: CompiledRoute, req: Request, path: string, requestId: string, clientIp: string, t0: number, why: "queue_full" | "queue_timeout"): Response {
    const b = route.svc.bulkhead!;
    const message = why === "queue_full"
      ? `service "${route.svc.name}" has ${b.maxConcurrent} calls in flight and ${b.maxQueue} queued`
      : `no call slot for service "${route.svc.name}" freed within ${b.queueTimeoutMs} ms`;
    return fail("GW_ERR_BULKHEAD_FULL", route, req, path, requestId, clientIp, t0, message, { "retry-after": "1" });
  }

  return handle;
}
