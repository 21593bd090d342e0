/**
 * What both proxy lanes share: the fetch lane (fetch-lane.ts, Request → Response) and the wire lane
 * (wire-lane.ts, socket bytes → socket bytes). Screening a request (limits, route, method),
 * recording an attempt's outcome (EWMA, outlier ejection, latency, the breaker's bus event), the
 * retry decision, the error a failure maps to, and the per-request metrics and access log line.
 */
import type { Topology } from "../topology";
import type { Bus } from "../../../src/core/bus";
import { UNGUARDED, type Permit, type UpstreamOutcomeError } from "../../../src/contracts/bus-topics";
import type { Logger } from "../../../src/core/log";
import type { HeaderView } from "../../../src/lib/http1/pair-headers";
import type { EdgePolicy, EdgeUpstreamTlsProvider } from "../edge/contract";
import { RouteTable, METHOD_MISMATCH, hostOnly } from "./route-table";
import type { CompiledRoute } from "./compiled-route";
import type { GatewayErrorCode } from "../errors";
import { ejectionAllowed, observeLatency, recordOutcome } from "../upstream-state";
import type { UpstreamClient, UpstreamErrorKind } from "../transport/upstream-client";
import { statusClass, type CellHistogram, type CounterCell } from "../metrics";
import type { AccessLog } from "./access-log";
import type { Member } from "./balancers";
import type { FramingProblem } from "../../../src/lib/http1/head";
import { normalisePath } from "./path-normalise";
import { connectionNamesFraming } from "./forward-headers";
import { DecisionLog } from "./decision-log";
import { proxyTrace, type ProxyTrace } from "./span-trace";
import type { Tracer } from "../../../src/lib/trace/trace";

export const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

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
  admin: (req: Request, clientIp: string) => Response | Promise<Response>;
  bus: Bus;
  log: Logger;
  accessLog: AccessLog;
  /** requests_total cells for requests no route took. */
  unroutedCells: readonly CounterCell[];
  latency: CellHistogram;
  /** host.log_level is debug: log every request's decisions (decision-log.ts). */
  debug?: boolean;
  /** host.tracing on: spans per request (span-trace.ts). */
  tracer?: Tracer;
  /** Quarantined services (quarantine.ts): their routes answer 503 before any upstream call. */
  quarantine?: ReadonlyMap<string, { reason: string }>;
  /** The live call graph (topology.ts), fed once per answered request. */
  topology?: Topology;
}

/** A request the gateway answers itself, before any upstream is chosen. */
export interface Refusal {
  code: GatewayErrorCode;
  message: string;
  headers?: Record<string, string>;
  /** The matched route, when the refusal came after matching. */
  route?: CompiledRoute;
}

/** RFC 9110 methods (and PATCH): a route that does not take one answers 405; any other method is 501. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** The path matched but the method did not: 405 with Allow for a method we know, 501 for one nobody lists (`get`, `FOO`). */
function methodRefusal(table: RouteTable<CompiledRoute>, method: string, path: string, host: string): Refusal {
  if (!KNOWN_METHODS.has(method) && !table.methods.has(method)) {
    return { code: "GW_ERR_METHOD_NOT_IMPLEMENTED", message: `the method "${method.slice(0, 32)}" is not implemented (methods are case-sensitive)` };
  }
  return { code: "GW_ERR_METHOD_NOT_ALLOWED", message: `${method} is not allowed at ${path}`, headers: { allow: table.allowedAt(path, host).join(", ") } };
}

/** Paths the gateway's admin app serves (/services...). */
export function isAdminPath(path: string): boolean {
  return (path.startsWith("/services") && (path.length === 9 || path.charCodeAt(9) === 47)) || path === "/topology" || path === "/topology/view";
}

/** An attempt's error as the breaker reads it: what the client did is "client", neither way. */
function outcomeError(err: UpstreamErrorKind | "unsent"): UpstreamOutcomeError {
  switch (err) {
    case "connect": case "timeout": case "reset": case "client": case "unsent": return err;
    case "body-limit": return "client";
    default: return "other";
  }
}

/** Whether a value from `admit` is the refusal (a Permit has `allowed`). */
export function isRefusal(p: Permit | Refusal): p is Refusal {
  return (p as Refusal).code !== undefined;
}

export class ProxyCore {
  /** Per-request decision lines (log level debug) and/or spans (host.tracing); undefined otherwise: `trace?.x()` costs nothing. */
  readonly trace: ProxyTrace | undefined;
  constructor(readonly o: ProxyOptions) {
    this.trace = proxyTrace(o.debug ? new DecisionLog(o.log) : undefined, o.tracer);
  }

  /**
   * The normalised path the last screen() routed on: what the caller forwards (read it right after a
   * screen() that returned a route; set synchronously, so no object is made per request for it).
   */
  screenedPath = "";

  /**
   * Limits, framing, the path (normalised once), then the route and method: a Refusal, or the
   * matched route (its path in `screenedPath`). `headerBytes` is the size of the header section
   * (or undefined when the listener already enforces a stricter limit).
   */
  screen(method: string, path: string, h: HeaderView, framing: FramingProblem | undefined, headerBytes: number | undefined): CompiledRoute | Refusal {
    const o = this.o;
    if (framing !== undefined) return { code: "GW_ERR_AMBIGUOUS_LENGTH", message: `refused: ${framing}`, headers: { connection: "close" } };
    if (headerBytes !== undefined && headerBytes > o.maxHeaderSize) return { code: "GW_ERR_HEADERS_TOO_LARGE", message: `request headers exceed ${o.maxHeaderSize} bytes`, headers: { connection: "close" } };
    const cl = h.get("content-length");
    if (cl !== null && Number(cl) > o.maxBodySize) return { code: "GW_ERR_BODY_TOO_LARGE", message: `request body exceeds ${o.maxBodySize} bytes`, headers: { connection: "close" } };
    const connection = h.get("connection");
    if (connection !== null) {
      const named = connectionNamesFraming(connection);
      if (named !== undefined) return { code: "GW_ERR_CONNECTION_NAMES_FRAMING", message: `Connection may not name ${named}: it decides how the request is framed or routed`, headers: { connection: "close" } };
    }
    const table = o.table;
    const host = table.hostRoutes ? hostOnly(h.get("host")) : "";
    let p = normalisePath(path, "reject");
    let route: CompiledRoute | typeof METHOD_MISMATCH | undefined;
    if (typeof p === "string") {
      route = table.match(p, host, method);
    } else {
      // Refused unless the route the path names says `path_escapes: keep` (refusal path: a second pass).
      const fault = p;
      const kept = fault.switchable ? normalisePath(path, "keep") : fault;
      if (typeof kept !== "string") return { code: "GW_ERR_BAD_PATH", message: kept.message };
      const r = table.match(kept, host, method);
      if (r === undefined || r === METHOD_MISMATCH || r.pathEscapes !== "keep") return { code: "GW_ERR_BAD_PATH", message: fault.message };
      // Bun's fetch() would resolve an encoded dot segment or a backslash itself: not the path that was routed.
      if (o.client.kind === "fetch" && /%2e|\\/i.test(kept)) return { code: "GW_ERR_BAD_PATH", message: `${fault.message} (upstream_client fetch cannot send it as sent)` };
      p = kept;
      route = r;
    }
    // "/api/../services", "//auth/login": the gateway's own paths are served at their canonical spelling only,
    // never forwarded upstream under another route (admin and edge paths are picked before screening).
    if (p !== path && (isAdminPath(p) || o.edgePaths.has(p))) return { code: "GW_ERR_BAD_PATH", message: `${p} is the gateway's own path: send it as is` };
    if (route === undefined) return { code: "GW_ERR_NO_ROUTE", message: `no service is routed at ${p}` };
    if (route === METHOD_MISMATCH) return methodRefusal(table, method, p, host);
    if (o.policy === undefined && route.edge.authRequired) return { code: "GW_ERR_EDGE_UNAVAILABLE", message: "this route requires authentication but the edge policy is not loaded", route };
    this.screenedPath = p;
    return route;
  }

  /**
   * The service breaker's verdict on this request: a permit (settled once by `settle` when the request is
   * over, whatever way it ends), or the 503 refusal while it is open.
   */
  admit(route: CompiledRoute): Permit | Refusal {
    const q = this.o.quarantine;
    if (q !== undefined && q.size !== 0) {
      const entry = q.get(route.svc.name);
      if (entry !== undefined) return { code: "GW_ERR_SERVICE_QUARANTINED", message: `service "${route.svc.name}" is quarantined: ${entry.reason}`, route };
    }
    const permit = this.o.bus.service("breaker.permit");
    if (permit === undefined) return UNGUARDED;
    const p = permit(route.svc.name);
    if (p.allowed) return p;
    return { code: "GW_ERR_CIRCUIT_OPEN", message: `the circuit breaker for service "${route.svc.name}" is ${p.state}`, route, headers: { "retry-after": String(Math.max(1, Math.ceil(p.retryAfterMs / 1000))) } };
  }

  /** The instance for the next attempt: another than `exclude` when there is one. */
  pick(route: CompiledRoute, now: number, exclude: Member | undefined): Member | undefined {
    const svc = route.svc;
    const m = svc.balancer.pick(svc.members, now, exclude) ?? (exclude ? svc.balancer.pick(svc.members, now) : undefined);
    if (m !== undefined || !svc.settings.health_check.panic || svc.members.length === 0) return m;
    // Panic routing (Envoy's, at 0 % available): every instance marked down or ejected at once is more often
    // a false alarm of ours (a stall that timed every check out) than a service gone. Try them in turn, not
    // the one just tried; if they really are down the attempts fail fast and the breaker opens.
    const n = svc.members.length;
    let i = svc.panicNext++ % n;
    if (n > 1 && svc.members[i] === exclude) i = svc.panicNext++ % n;
    return svc.members[i];
  }

  noInstance(route: CompiledRoute): Refusal {
    return { code: "GW_ERR_NO_HEALTHY_UPSTREAM", message: `no healthy instance of service "${route.svc.name}" is available`, headers: { "retry-after": "1" }, route };
  }

  /**
   * The request is over (answered, refused, failed, or the client left): its permit learns how, once.
   * The service breaker sees requests, not attempts: the last attempt's result after retries and
   * failover (`status`, `err`), or `err` "unsent" when no attempt was made (no healthy instance,
   * bulkhead full, an exception first): a refusal of our own says nothing new about the upstream.
   */
  settle(permit: Permit, status: number, latencyMs: number, err: UpstreamErrorKind | "unsent" | undefined): void {
    permit.settle(status, latencyMs, err === undefined ? undefined : outcomeError(err));
  }

  /**
   * One attempt is over: feed the instance's EWMA and outlier detector and the latency histogram
   * (the service breaker is told once per request, by `settle`). `status` 0 with `err` set when no
   * response came. What the client did (went away, its body broke or stalled, it sent too much) tells
   * nothing about the upstream: no EWMA, no outlier count, no latency sample.
   */
  recordAttempt(route: CompiledRoute, member: Member, latencyMs: number, doneAt: number, status: number, err: UpstreamErrorKind | undefined): void {
    const o = this.o;
    const svc = route.svc;
    if (err === "client" || err === "body-limit") return;
    const state = member.state;
    observeLatency(state, latencyMs, doneAt);
    if (recordOutcome(state, err !== undefined || status >= 500, svc.settings.outlier, doneAt, () => ejectionAllowed(svc.members, svc.settings.outlier.max_ejection_percent, doneAt))) {
      svc.ejections.value++;
      o.log.warn("instance ejected", { service: svc.name, instance: member.url, until: new Date(state.ejectedUntil).toISOString(), reason: err ?? `status ${status}` });
    }
    if (err === undefined) o.latency.observe(svc.latency, latencyMs / 1000);
  }

  /** Whether this attempt's outcome may be retried (the budget is asked separately). */
  retryable(route: CompiledRoute, attempt: number, doneAt: number, deadline: number, status: number, err: UpstreamErrorKind | undefined): boolean {
    if (attempt >= route.retryAttempts || doneAt >= deadline) return false;
    // A try cut off by per_try_timeout (the request's deadline not reached) is the instance's slowness: try another.
    if (err === "timeout") return route.perTryTimeoutMs > 0;
    return err !== undefined ? err === "connect" || err === "reset" : route.retryStatuses.has(status);
  }

  /** When one attempt started at `now` must have its response head: the request's deadline, or sooner with per_try_timeout. */
  attemptDeadline(route: CompiledRoute, deadline: number, now: number): number {
    return route.perTryTimeoutMs > 0 ? Math.min(deadline, now + route.perTryTimeoutMs) : deadline;
  }

  /** Ask the retry budget; counts the retry or its denial. */
  tryRetry(route: CompiledRoute, now: number, requestId = ""): boolean {
    const svc = route.svc;
    if (svc.budget.tryRetry(now)) { svc.retriesSent.value++; this.trace?.retry(requestId, route, true); return true; }
    svc.retriesDenied.value++;
    this.trace?.retry(requestId, route, false);
    return false;
  }

  /** The coded error an upstream failure is answered with. */
  failure(route: CompiledRoute, err: UpstreamErrorKind): Refusal {
    const svc = route.svc;
    switch (err) {
      case "body-limit": return { code: "GW_ERR_BODY_TOO_LARGE", message: `request body exceeds ${this.o.maxBodySize} bytes`, headers: { connection: "close" }, route };
      case "timeout": return { code: "GW_ERR_PROXY_UPSTREAM_TIMEOUT", message: `service "${svc.name}" did not answer within ${route.timeoutMs} ms` + (route.perTryTimeoutMs > 0 ? ` (${route.perTryTimeoutMs} ms per try)` : ""), route };
      case "connect": return { code: "GW_ERR_PROXY_UPSTREAM_CONNECT", message: `could not connect to an instance of service "${svc.name}"`, route };
      case "reset": return { code: "GW_ERR_PROXY_UPSTREAM_RESET", message: "the upstream closed the connection before answering", route };
      case "client": return { code: "GW_ERR_CLIENT_ABORTED", message: "the client went away, or its request body broke off or stalled, before the upstream answered", headers: { connection: "close" }, route };
      default: return { code: "GW_ERR_PROXY_FAILED", message: "the upstream call failed", route };
    }
  }

  /** Count the answer (requests_total by status class) and write the sampled access log line. */
  account(route: CompiledRoute | undefined, method: string, path: string, status: number, requestId: string, clientIp: string, t0: number, member?: Member, attempts?: number, code?: string): void {
    const o = this.o;
    const cells = route ? route.statusCells : o.unroutedCells;
    cells[statusClass(status)].value++;
    if (route !== undefined) o.topology?.record(clientIp, route.id, route.svc.name, member?.url ?? "(none)", status, performance.now() - t0);
    const traceId = this.trace?.traceIdOf?.(requestId);
    this.trace?.done(requestId, route, status, member, attempts, code);
    if (o.accessLog.wants(status, code !== undefined)) {
      o.accessLog.write({
        method, path, status, service: route?.svc.name ?? "-", route: route?.id ?? "-",
        instance: member?.url, ms: Math.round((performance.now() - t0) * 100) / 100, request_id: requestId, trace_id: traceId, client: clientIp, attempts, code,
      });
    }
  }
}
