/**
 * The wire lane: the gateway's proxy path on the host's raw HTTP/1.1 front (plugin serve.wire).
 * Same decisions as the fetch lane (core.ts: limits, route, edge policy, breaker, balancer,
 * retries within budget, metrics, access log), but the request arrives as a parsed head and the
 * upstream's response goes back as relayed bytes, so no Request, Response or Headers is built.
 * Declined (→ fetch lane): the admin and edge paths, and services with a bulkhead. https instances
 * (with the service's mTLS options) are relayed on TLS connections from the same pool.
 * With upstream_client "fetch" the decisions are the same and each attempt goes through fetch().
 */
import type { WireClient, WireHandler, WireRequest } from "../../../src/core/wire";
import type { ResponseHead } from "../../../src/lib/http1/head";
import { fullJitterBackoff } from "../../../src/lib/resilience";
import type { EdgeDecision } from "../edge/contract";
import { mintTraceparent, requestIdFrom } from "./traceparent";
import { stripPrefix } from "./route-table";
import type { CompiledRoute } from "./compiled-route";
import { applyHeaderProgramToPairs, applyUrlProgram } from "../transforms";
import { headerBlock, type ForwardingInfo } from "./forward-headers";
import { GatewayErrors } from "../errors";
import { IDEMPOTENT, isAdminPath, isRefusal, type ProxyCore, type Refusal } from "./core";
import type { Permit } from "../../../src/contracts/bus-topics";
import { RelayExchange, type RelayListener } from "../transport/relay-exchange";
import type { ConnectionPool } from "../transport/pool";
import { UpstreamError, classifyFetchError, type UpstreamErrorKind, type UpstreamResponse } from "../transport/upstream-client";
import type { Member } from "./balancers";
import { spiffeRefusal } from "../platform-upstreams";
import { sendResponse, writeError } from "./wire-response";
import { dateLine } from "../../../src/lib/http1/date";
import { FRAMING_FIELDS, HOP_BY_HOP, isHopOrFraming } from "../../../src/lib/http1/hop-by-hop";

/** Response fields never relayed as they came: hop-by-hop (framing is re-decided apart) and the ones the gateway sets itself. */
const DROP_RESPONSE = new Set([...HOP_BY_HOP, "x-request-id"].filter((n) => !FRAMING_FIELDS.has(n)));

/** One client request on the wire lane, from admission to the last relayed byte. */
class WireCall implements RelayListener {
  private attempt = 0;
  private exclude: Member | undefined;
  private member: Member | undefined;
  private started = 0;
  private now = 0;
  private readonly now0: number;
  private readonly deadline: number;
  /** The forwarded header lines (no Host unless preserved, no final CRLF). */
  private readonly block: string;
  private readonly pathAndQuery: string;
  private readonly requestLine: string;
  private readonly retryable: boolean;
  /** upstream_client "fetch": every attempt goes through the client, the answer is written from its Response. */
  private readonly viaFetch: boolean;
  private gone = false;
  /** The attempt waiting for its response head (pooled relay), or the fetch() attempt's abort. */
  private ex: RelayExchange | null = null;
  private ac: AbortController | null = null;
  /** How the request ended, for its permit: the last attempt's result, "unsent" until one is made. */
  private lastStatus = 0;
  private lastLatencyMs = 0;
  private lastErr: UpstreamErrorKind | "unsent" | undefined = "unsent";

  constructor(
    private readonly core: ProxyCore,
    private readonly pool: ConnectionPool,
    private readonly req: WireRequest,
    private readonly client: WireClient,
    private readonly route: CompiledRoute,
    private readonly path: string,
    query: string,
    private readonly requestId: string,
    private readonly t0: number,
    private readonly decision: EdgeDecision | undefined,
    private readonly permit: Permit,
  ) {
    const h = req.headers;
    const upstreamPath = route.strip ? stripPrefix(path, route.prefix) : path;
    const pathAndQuery = route.transforms.url ? applyUrlProgram(upstreamPath, query, route.transforms.url) : upstreamPath + query;
    this.pathAndQuery = pathAndQuery;
    const forwarding: ForwardingInfo = {
      clientIp: req.clientIp, proto: "http", host: h.get("host"), requestId,
      traceparent: core.trace?.traceparent?.(requestId, h.get("traceparent")) ?? mintTraceparent(h.get("traceparent")), trustChain: core.o.trustForwarded,
    };
    this.requestLine = req.method + " " + pathAndQuery + " HTTP/1.1\r\n";
    const block = headerBlock(h, forwarding, route.preserveHost, route.transforms.request, route.transforms.requestBlock);
    // An upgrade (WebSocket...) keeps its hop-by-hop pair on this hop: the upstream must see the ask.
    this.block = req.upgrade === null ? block : block + "connection: upgrade\r\nupgrade: " + req.upgrade + "\r\n";
    this.retryable = route.retryAttempts > 0 && (IDEMPOTENT.has(req.method) || route.retryNonIdempotent);
    this.viaFetch = core.o.client.kind === "fetch";
    this.now0 = Date.now();
    route.svc.budget.recordRequest(this.now0);
    this.deadline = this.now0 + route.timeoutMs;
    client.onClose = () => this.clientGone();
  }

  /**
   * The request is over (answered, refused, or the client left): its permit is settled here, the one
   * place, with the last attempt's result. Every terminal path ends here; settle is idempotent.
   */
  private end(): void {
    this.core.settle(this.permit, this.lastStatus, this.lastLatencyMs, this.lastErr);
  }

  /** Start (or retry) an attempt on the next instance; a throw ends the request (settled, then rethrown). */
  go(): void {
    try {
      this.attemptNext();
    } catch (e) {
      this.end();
      throw e;
    }
  }

  private attemptNext(): void {
    if (this.gone) { this.end(); return; } // left during a retry's backoff
    const core = this.core;
    const now = this.attempt === 0 ? this.now0 : Date.now();
    const member = core.pick(this.route, now, this.exclude);
    core.trace?.instance(this.requestId, this.route, this.attempt, member, this.exclude, this.lastStatus, this.lastErr);
    if (member === undefined) { this.refuse(core.noInstance(this.route)); return; }
    this.member = member;
    this.now = now;
    member.state.active++;
    this.started = performance.now();
    if (this.viaFetch) { void this.viaClient(member); return; }
    // https instances: TLS on the pooled connection, with the service's upstream TLS options (mTLS) when set.
    const https = member.url.charCodeAt(4) === 115;
    const pool = this.pool.poolFor(member.url, https ? (this.route.svc.tlsSource?.get() ?? true) : undefined);
    const text = this.requestLine + (this.route.preserveHost && this.req.headers.has("host") ? "" : "host: " + pool.hostHeader + "\r\n") + this.block + "\r\n";
    // Header values are latin1 strings: bytes above 0x7f must go back as they came, not UTF-8 encoded.
    const head = this.req.ascii ? text : Buffer.from(text, "latin1");
    const ex = new RelayExchange(this.pool, head, this.req.body, this.req.method, core.attemptDeadline(this.route, this.deadline, now), this.route.connectTimeoutMs, this, this.req.upgrade !== null);
    this.ex = ex;
    this.pool.send(pool, ex);
  }

  /**
   * The client went away. An attempt still waiting for its head is abandoned (its connection is
   * mid-request, so it is closed, as nginx does) and recorded as the client's doing, never the upstream's.
   */
  private clientGone(): void {
    this.gone = true;
    const ex = this.ex;
    this.ex = null;
    if (ex !== null && ex.abandon()) this.outcome(0, "client", undefined);
    this.ac?.abort();
  }

  onHead(ex: RelayExchange, status: number, err: UpstreamError | undefined): void {
    this.ex = null;
    if (this.outcome(status, err?.kind, ex)) return;
    this.end(); // the head is the answer: what follows (the body) is the client's to take
    const keepAlive = this.req.keepAlive;
    const close = !keepAlive || ex.closeDelimited;
    this.core.account(this.route, this.req.method, this.path, status, this.requestId, this.req.clientIp, this.t0, this.member, this.attempt + 1);
    if (status === 101) { ex.relaySwitch(this.client, this.switchHead(ex.parsed()), this.route.pipe); return; }
    if (this.route.transforms.response !== undefined || ex.needsParse) {
      ex.relayHead(this.client, this.responseHead(ex.parsed(), close), keepAlive);
      return;
    }
    // The common case: the upstream's lines copied as bytes, ours appended.
    let extra = "x-request-id: " + this.requestId + "\r\n";
    if (!ex.hasDate) extra += dateLine(); // RFC 9110 §6.6.1: a forwarded response without Date gets one
    const edge = this.decision?.responseHeaders;
    if (edge !== undefined) for (let i = 0; i < edge.length; i++) extra += edge[i][0] + ": " + edge[i][1] + "\r\n";
    if (close) extra += "connection: close\r\n";
    ex.relay(this.client, extra, keepAlive);
  }

  /**
   * Record the attempt; retry, or answer a failure. True when the caller must not answer (retrying,
   * failure answered, or the client left).
   */
  private outcome(status: number, err: UpstreamErrorKind | undefined, answer: { discard(): void } | undefined): boolean {
    const core = this.core;
    const member = this.member!;
    member.state.active--;
    const latencyMs = performance.now() - this.started;
    const doneAt = this.now + latencyMs;
    core.recordAttempt(this.route, member, latencyMs, doneAt, status, err);
    this.lastStatus = status;
    this.lastLatencyMs = latencyMs;
    this.lastErr = err;
    if (this.gone) { if (err === undefined) answer?.discard(); this.end(); return true; }
    if (this.retryable && core.retryable(this.route, this.attempt, doneAt, this.deadline, status, err) && core.tryRetry(this.route, doneAt, this.requestId)) {
      if (err === undefined) answer?.discard();
      const delay = fullJitterBackoff(this.attempt, this.route.backoffBaseMs, this.route.backoffCapMs);
      this.attempt++;
      this.exclude = member;
      if (delay > 0) setTimeout(() => this.go(), delay);
      else this.go();
      return true;
    }
    if (err !== undefined) { this.refuse(core.failure(this.route, err), member); return true; }
    return false;
  }

  /** A 101's head: the upstream's lines (Connection/Upgrade kept: they are this hop's answer), our request id, edge headers. */
  private switchHead(r: ResponseHead): string {
    let out = "HTTP/1.1 " + r.statusLine.slice(9) + "\r\n";
    const p = r.pairs;
    for (let i = 0; i < p.length; i += 2) {
      const name = p[i];
      if (name === "x-request-id" || (isHopOrFraming(name) && name !== "connection" && name !== "upgrade")) continue;
      out += name + ": " + p[i + 1] + "\r\n";
    }
    out += "x-request-id: " + this.requestId + "\r\n";
    const extra = this.decision?.responseHeaders;
    if (extra !== undefined) for (let i = 0; i < extra.length; i++) out += extra[i][0] + ": " + extra[i][1] + "\r\n";
    return out + "\r\n";
  }

  /** The upstream's head rewritten from strings: hop-by-hop fields out, X-Request-Id, the route's response program, edge headers. */
  private responseHead(r: ResponseHead, close: boolean): string {
    let out = "HTTP/1.1 " + r.statusLine.slice(9) + "\r\n";
    const p = r.pairs;
    const tokens = r.connectionTokens;
    const program = this.route.transforms.response;
    if (program === undefined) {
      for (let i = 0; i < p.length; i += 2) {
        const name = p[i];
        if (DROP_RESPONSE.has(name) || (tokens !== undefined && tokens.includes(name))) continue;
        out += name + ": " + p[i + 1] + "\r\n";
      }
      out += "x-request-id: " + this.requestId + "\r\n";
    } else {
      // The program sees what the fetch lane's Headers would hold; framing fields stay out of its reach.
      let pairs: string[] = [];
      for (let i = 0; i < p.length; i += 2) {
        const name = p[i];
        if (DROP_RESPONSE.has(name) || (tokens !== undefined && tokens.includes(name))) continue;
        if (FRAMING_FIELDS.has(name)) out += name + ": " + p[i + 1] + "\r\n";
        else pairs.push(name, p[i + 1]);
      }
      pairs.push("x-request-id", this.requestId);
      pairs = applyHeaderProgramToPairs(pairs, program);
      for (let i = 0; i < pairs.length; i += 2) out += pairs[i] + ": " + pairs[i + 1] + "\r\n";
    }
    // The upstream's own Date is kept (or left to the program); a response that had none gets ours.
    let hasDate = false;
    for (let i = 0; i < p.length; i += 2) if (p[i] === "date") { hasDate = true; break; }
    if (!hasDate) out += dateLine();
    const extra = this.decision?.responseHeaders;
    if (extra !== undefined) for (let i = 0; i < extra.length; i++) out += extra[i][0] + ": " + extra[i][1] + "\r\n";
    if (close) out += "connection: close\r\n";
    return out + "\r\n";
  }

  /** upstream_client "fetch": through the client, the Response written out. */
  private async viaClient(member: Member): Promise<void> {
    const route = this.route;
    let res: UpstreamResponse | undefined;
    let err: UpstreamError | undefined;
    this.ac ??= new AbortController();
    try {
      res = await this.core.o.client.send({
        base: member.url, path: this.pathAndQuery, method: this.req.method,
        headers: this.block, blockHasHost: route.preserveHost && this.req.headers.has("host"), blockHasLength: this.req.body !== null,
        body: this.req.body !== null ? new Blob([this.req.body as Uint8Array<ArrayBuffer>]).stream() : null, connectTimeoutMs: route.connectTimeoutMs, deadline: this.core.attemptDeadline(route, this.deadline, this.now), tls: route.svc.tlsSource?.get(), signal: this.ac.signal,
      });
    } catch (e) {
      err = classifyFetchError(e, false);
    }
    if (this.outcome(res !== undefined ? res.status : 0, err?.kind, res)) return;
    this.end();
    const up = res!;
    this.core.account(route, this.req.method, this.path, up.status, this.requestId, this.req.clientIp, this.t0, member, this.attempt + 1);
    const rh = up.headers;
    rh.set("x-request-id", this.requestId);
    const program = route.transforms.response;
    let pairs: string[] = [];
    rh.forEach((v, k) => { pairs.push(k, v); });
    if (program !== undefined) pairs = applyHeaderProgramToPairs(pairs, program);
    const extra = this.decision?.responseHeaders;
    if (extra !== undefined) for (const [k, v] of extra) pairs.push(k, v);
    const headers = new Headers();
    for (let i = 0; i < pairs.length; i += 2) headers.append(pairs[i], pairs[i + 1]);
    void sendResponse(this.client, new Response(up.body as BodyInit | null, { status: up.status, statusText: up.statusText, headers }), this.req.keepAlive, this.req.method, true);
  }

  refuse(r: Refusal, member?: Member): void {
    this.end();
    refuseOnWire(this.core, this.req, this.client, this.path, this.requestId, this.t0, r, member, this.attempt + 1);
  }
}

/** Answer a request the gateway refuses itself (coded error as bytes, or the route's static fallback). */
function refuseOnWire(core: ProxyCore, req: WireRequest, client: WireClient, path: string, requestId: string, t0: number, r: Refusal, member?: Member, attempts?: number): void {
  const fallback = r.route?.fallback?.[r.code];
  const keepAlive = req.keepAlive && req.framing === undefined;
  if (fallback === undefined) {
    // Accounted before the write: a synchronous done() may already take the next pipelined request.
    core.account(r.route, req.method, path, GatewayErrors.specs[r.code].status, requestId, req.clientIp, t0, member, attempts, r.code);
    writeError(client, r.code, r.message, requestId, r.headers, keepAlive, req.method);
    return;
  }
  const res = fallback();
  res.headers.set("x-request-id", requestId);
  core.account(r.route, req.method, path, res.status, requestId, req.clientIp, t0, member, attempts, r.code);
  void sendResponse(client, res, keepAlive, req.method);
}

/** Past the edge: the breaker's verdict, then the call. */
function admit(core: ProxyCore, pool: ConnectionPool, req: WireRequest, client: WireClient, route: CompiledRoute, path: string, query: string, requestId: string, t0: number, decision: EdgeDecision | undefined): void {
  const permit = core.admit(route);
  core.trace?.breaker(requestId, route, permit);
  if (isRefusal(permit)) { refuseOnWire(core, req, client, path, requestId, t0, permit); return; }
  let call: WireCall;
  try {
    call = new WireCall(core, pool, req, client, route, path, query, requestId, t0, decision, permit);
  } catch (e) {
    core.settle(permit, 0, 0, "unsent");
    throw e;
  }
  call.go();
}

function decided(core: ProxyCore, pool: ConnectionPool, req: WireRequest, client: WireClient, route: CompiledRoute, path: string, query: string, requestId: string, t0: number, d: EdgeDecision): void {
  if (d.reject === undefined) { admit(core, pool, req, client, route, path, query, requestId, t0, d); return; }
  core.account(route, req.method, path, d.reject.status, requestId, req.clientIp, t0);
  void sendResponse(client, d.reject, req.keepAlive, req.method);
}

export function createWireHandler(core: ProxyCore, pool: ConnectionPool): WireHandler {
  const o = core.o;
  return function wire(req: WireRequest, client: WireClient): boolean {
    const t0 = performance.now();
    const target = req.target;
    if (target.charCodeAt(0) !== 47 /* / */) return false; // absolute-form or "*": the fetch lane sorts it out
    const q = target.indexOf("?");
    let path = q === -1 ? target : target.slice(0, q);
    const query = q === -1 ? "" : target.slice(q);
    if (isAdminPath(path) || (o.policy !== undefined && o.edgePaths.has(path))) return false;

    const h = req.headers;
    const requestId = requestIdFrom(h.get("x-request-id"));
    const screened = core.screen(req.method, path, h, req.framing, req.headerBytes);
    if (!("svc" in screened)) { refuseOnWire(core, req, client, path, requestId, t0, screened); return true; }
    const route = screened;
    if (route.svc.bulkhead !== undefined) return false;
    path = core.screenedPath; // normalised: routed and forwarded alike
    core.trace?.route(requestId, req.method, path, route, h);
    const peer = route.svc.settings.require_spiffe.length > 0 ? spiffeRefusal(route, client.peerId) : undefined;
    if (peer) { refuseOnWire(core, req, client, path, requestId, t0, peer); return true; }
    if (o.policy === undefined) { admit(core, pool, req, client, route, path, query, requestId, t0, undefined); return true; }
    const decision = o.policy.check(req, route.edge, req.clientIp);
    core.trace?.edge(requestId, route, decision);
    if (decision instanceof Promise) {
      decision.then(
        (d) => decided(core, pool, req, client, route, path, query, requestId, t0, d),
        (err: unknown) => { o.log.error("edge check failed", { err }); client.abort(); },
      );
    } else {
      decided(core, pool, req, client, route, path, query, requestId, t0, decision);
    }
    return true;
  };
}
