/**
 * What every stage of the request walk reads: the gateway's compiled options (route table, limits,
 * edge policy, bus, logs, metrics), the per-request trace hooks, and the shape of a request in
 * flight (`Call`) and of an answer the gateway gives itself (`Refusal`). The stages are one file
 * each beside this one (see the README's "request walk"); the two lanes are adapters around them.
 */
import type { Topology } from "../topology";
import type { Bus } from "../../../src/core/bus";
import type { Logger } from "../../../src/core/log";
import type { EdgeDecision, EdgePolicy } from "../edge-policy/contract";
import type { RouteTable } from "./route-table";
import type { CompiledRoute } from "./compiled-route";
import type { GatewayErrorCode } from "../errors";
import type { UpstreamClient } from "../transport/upstream-client";
import type { CellHistogram, CounterCell } from "../../../src/core/metric-cells";
import type { AccessLog } from "./access-log";
import { DecisionLog } from "./decision-log";
import { proxyTrace, type ProxyTrace } from "./span-trace";
import type { Tracer } from "../../../src/lib/trace/trace";
import { currentRequest, type RequestContext } from "../../../src/core/request-context";

export interface ProxyOptions {
  table: RouteTable<CompiledRoute>;
  client: UpstreamClient;
  maxBodySize: number;
  maxHeaderSize: number;
  trustForwarded: boolean;
  /** Edge policy, when loaded. Routes needing auth fail closed without it. */
  policy: EdgePolicy;
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

/** A request the gateway answers itself, before or instead of an upstream's answer. */
export interface Refusal {
  code: GatewayErrorCode;
  message: string;
  headers?: Record<string, string>;
  /** The matched route, when the refusal came after matching. */
  route?: CompiledRoute;
}

/** Whether a stage's value is a refusal (routes, permits and decisions have no `code`). */
export function isRefusal(p: object): p is Refusal {
  return (p as Refusal).code !== undefined;
}

/** One request on its way through the stages, whatever lane it came in on. */
export interface Call {
  readonly method: string;
  /** The path as sent until screened, then the normalised path (routed and forwarded alike). */
  path: string;
  readonly query: string;
  readonly requestId: string;
  readonly clientIp: string;
  /** Platform mTLS: the SPIFFE ID of the client's certificate, when there was one. */
  readonly peerId: string | undefined;
  /** performance.now() when the request arrived. */
  readonly t0: number;
  /** performance.now() when the last attempt ended (its head or failure came), 0 before: account() reads no clock again. */
  endedAt: number;
  /** The edge policy's decision (principal, headers to add), once made. */
  decision: EdgeDecision | undefined;
  /**
   * The host's context for this request (src/core/request-context.ts), taken when it arrived: the answer
   * may be accounted in a pooled upstream socket's callback, which runs outside it.
   */
  readonly ctx: RequestContext | undefined;
}

export function newCall(method: string, path: string, query: string, requestId: string, clientIp: string, peerId: string | undefined, t0: number): Call {
  return { method, path, query, requestId, clientIp, peerId, t0, endedAt: 0, decision: undefined, ctx: currentRequest() };
}

/** The options and trace hooks both lanes run the stages with (one per provisioned gateway). */
export class ProxyCore {
  /** Per-request decision lines (log level debug) and/or spans (host.tracing); undefined otherwise: `trace?.x()` costs nothing. */
  readonly trace: ProxyTrace | undefined;
  constructor(readonly o: ProxyOptions) {
    this.trace = proxyTrace(o.debug ? new DecisionLog(o.log) : undefined, o.tracer);
  }
}
