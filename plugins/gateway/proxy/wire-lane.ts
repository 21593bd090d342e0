/**
 * The wire lane: the request walk on the host's raw HTTP/1.1 front (plugin serve.wire). Input: a
 * parsed head (and its whole body, when it came with the head); output: bytes on the client's
 * socket. The stages are the shared ones (screen, policy, admit, the attempt driver, account); what
 * is this lane's own is how an attempt is sent (a RelayExchange on a pooled connection, TLS for https
 * instances, or fetch() with upstream_client "fetch") and how answers are written (relayed bytes,
 * coded errors as bytes, Responses written out). Declined (→ fetch lane): absolute-form targets,
 * the admin and edge paths, services with a bulkhead.
 */
import type { WireClient, WireHandler, WireRequest } from "../../../src/core/wire";
import type { Permit } from "../../../src/contracts/bus-topics";
import { requestIdFrom } from "./traceparent";
import type { CompiledRoute } from "./compiled-route";
import { headerBlock } from "./forward-headers";
import { GatewayErrors } from "../errors";
import { isRefusal, newCall, type Call, type ProxyCore, type Refusal } from "./pipeline";
import { isAdminPath, screen } from "./screen";
import { checkPolicy, type PolicyVerdict } from "./policy";
import { admit, settle } from "./admit";
import { AttemptDriver, mayRetry, type AttemptLane } from "./attempt";
import { fallbackFor } from "./refusal";
import { appendedLines, answerHeaders, rewrittenHead, switchHead } from "./response-head";
import { account } from "./account";
import { forwardingOf, upstreamTarget } from "./upstream-request";
import { RelayExchange, type RelayListener } from "../transport/relay-exchange";
import type { ConnectionPool } from "../transport/pool";
import { classifyFetchError, type UpstreamError, type UpstreamResponse } from "../transport/upstream-client";
import type { Member } from "./balancers";
import { sendResponse, writeError } from "./wire-response";
import { queryAt } from "../../../src/lib/http1/target";

type WireAnswer = RelayExchange | UpstreamResponse;

/** One admitted request's attempts on the wire lane, from the first byte sent upstream to the last relayed. */
class WireAttempts implements AttemptLane<WireAnswer>, RelayListener {
  readonly driver: AttemptDriver<WireAnswer>;
  /** The forwarded header lines (no Host unless preserved, no final CRLF). */
  private readonly block: string;
  private readonly pathAndQuery: string;
  private readonly requestLine: string;
  /** The attempt waiting for its response head (pooled relay), or the fetch() attempt's abort. */
  private ex: RelayExchange | null = null;
  private ac: AbortController | null = null;

  constructor(
    private readonly core: ProxyCore,
    private readonly pool: ConnectionPool,
    private readonly req: WireRequest,
    private readonly client: WireClient,
    private readonly route: CompiledRoute,
    private readonly call: Call,
    permit: Permit,
  ) {
    const h = req.headers;
    this.pathAndQuery = upstreamTarget(route, call);
    this.requestLine = req.method + " " + this.pathAndQuery + " HTTP/1.1\r\n";
    const block = headerBlock(h, forwardingOf(core, call, h, "http"), route.preserveHost, route.transforms.request, route.transforms.requestBlock);
    // An upgrade (WebSocket...) keeps its hop-by-hop pair on this hop: the upstream must see the ask.
    this.block = req.upgrade === null ? block : block + "connection: upgrade\r\nupgrade: " + req.upgrade + "\r\n";
    this.driver = new AttemptDriver<WireAnswer>(core, route, call, permit, mayRetry(route, req.method), this);
    client.onClose = () => this.clientGone();
  }

  send(member: Member, deadline: number): void {
    if (this.core.o.client.kind === "fetch") { this.viaFetch(member, deadline); return; }
    // https instances: TLS on the pooled connection, with the service's upstream TLS options (mTLS) when set.
    const https = member.url.charCodeAt(4) === 115;
    const pool = this.pool.poolFor(member.url, https ? (this.route.svc.tlsSource?.get() ?? true) : undefined);
    const text = this.requestLine + (this.route.preserveHost && this.req.headers.has("host") ? "" : "host: " + pool.hostHeader + "\r\n") + this.block + "\r\n";
    // Header values are latin1 strings: bytes above 0x7f must go back as they came, not UTF-8 encoded.
    const head = this.req.ascii ? text : Buffer.from(text, "latin1");
    const ex = new RelayExchange(this.pool, head, this.req.body, this.req.method, deadline, this.route.connectTimeoutMs, this, this.req.upgrade !== null);
    this.ex = ex;
    this.pool.send(pool, ex);
  }

  /** upstream_client "fetch": the attempt through the client; its Response is written out. */
  private viaFetch(member: Member, deadline: number): void {
    const route = this.route;
    const body = this.req.body;
    this.ac ??= new AbortController();
    this.core.o.client.send({
      base: member.url, path: this.pathAndQuery, method: this.req.method,
      headers: this.block, blockHasHost: route.preserveHost && this.req.headers.has("host"), blockHasLength: body !== null,
      body: body !== null ? new Blob([body as Uint8Array<ArrayBuffer>]).stream() : null, connectTimeoutMs: route.connectTimeoutMs, deadline, tls: route.svc.tlsSource?.get(), signal: this.ac.signal,
    }).then((res) => this.driver.result(res.status, undefined, res), (e: unknown) => this.driver.result(0, classifyFetchError(e, false).kind, undefined));
  }

  onHead(ex: RelayExchange, status: number, err: UpstreamError | undefined): void {
    this.ex = null;
    this.driver.result(status, err?.kind, ex);
  }

  /**
   * The client went away. An attempt still waiting for its head is abandoned (its connection is
   * mid-request, so it is closed, as nginx does) and recorded as the client's doing, never the upstream's.
   */
  private clientGone(): void {
    this.driver.clientGone();
    const ex = this.ex;
    this.ex = null;
    if (ex !== null && ex.abandon()) this.driver.result(0, "client", undefined);
    this.ac?.abort();
  }

  answer(a: WireAnswer, status: number, member: Member, attempts: number): void {
    const { call, route, req, client } = this;
    account(this.core, call, route, status, member, attempts);
    if (!(a instanceof RelayExchange)) {
      const res = new Response(a.body as BodyInit | null, { status: a.status, statusText: a.statusText, headers: answerHeaders(a.headers, call, route) });
      void sendResponse(client, res, req.keepAlive, req.method, true);
      return;
    }
    const close = !req.keepAlive || a.closeDelimited;
    if (status === 101) a.relaySwitch(client, switchHead(call, a.parsed()), route.pipe);
    else if (route.transforms.response !== undefined || a.needsParse) a.relayHead(client, rewrittenHead(call, route, a.parsed(), close), req.keepAlive);
    else a.relay(client, appendedLines(call, a.hasDate, close), req.keepAlive); // the common case: the upstream's lines copied as bytes, ours appended
  }

  refuse(r: Refusal, member: Member | undefined, attempts: number | undefined): void {
    refuseOnWire(this.core, this.req, this.client, this.call, r, member, attempts);
  }
}

/** Answer a request the gateway refuses itself (coded error as bytes, or the route's static fallback). */
function refuseOnWire(core: ProxyCore, req: WireRequest, client: WireClient, call: Call, r: Refusal, member?: Member, attempts?: number): void {
  const keepAlive = req.keepAlive && req.framing === undefined;
  const fallback = fallbackFor(r, call.requestId);
  if (fallback === undefined) {
    // Accounted before the write: a synchronous done() may already take the next pipelined request.
    account(core, call, r.route, GatewayErrors.specs[r.code].status, member, attempts, r.code);
    writeError(client, r.code, r.message, call.requestId, r.headers, keepAlive, req.method);
    return;
  }
  account(core, call, r.route, fallback.status, member, attempts, r.code);
  void sendResponse(client, fallback, keepAlive, req.method);
}

/** Past the edge: the breaker's verdict, then the attempts. */
function policyDone(core: ProxyCore, pool: ConnectionPool, req: WireRequest, client: WireClient, route: CompiledRoute, call: Call, v: PolicyVerdict): void {
  if (v instanceof Response) {
    account(core, call, route, v.status);
    void sendResponse(client, v, req.keepAlive, req.method);
    return;
  }
  if (v !== undefined) { refuseOnWire(core, req, client, call, v); return; }
  const permit = admit(core, route, call.requestId);
  if (isRefusal(permit)) { refuseOnWire(core, req, client, call, permit); return; }
  let attempts: WireAttempts;
  try {
    attempts = new WireAttempts(core, pool, req, client, route, call, permit);
  } catch (e) {
    settle(permit, 0, 0, "unsent");
    throw e;
  }
  attempts.driver.go();
}

export function createWireHandler(core: ProxyCore, pool: ConnectionPool): WireHandler {
  const o = core.o;
  return function wire(req: WireRequest, client: WireClient): boolean {
    const t0 = performance.now();
    const target = req.target;
    if (target.charCodeAt(0) !== 47 /* / */) return false; // absolute-form or "*": the fetch lane sorts it out
    const q = queryAt(target);
    const path = target.slice(0, q);
    if (isAdminPath(path) || o.edgePaths.has(path)) return false;

    const h = req.headers;
    const call = newCall(req.method, path, target.slice(q), requestIdFrom(h.get("x-request-id")), req.clientIp, client.peerId, t0);
    const route = screen(core, call, h, req.framing, req.headerBytes);
    if (isRefusal(route)) { refuseOnWire(core, req, client, call, route); return true; }
    if (route.svc.bulkhead !== undefined) return false;
    core.trace?.route(call.requestId, call.method, call.path, route, h);
    const v = checkPolicy(core, call, req, route);
    if (v instanceof Promise) {
      v.then(
        (d) => policyDone(core, pool, req, client, route, call, d),
        (err: unknown) => { o.log.error("edge check failed", { err }); client.abort(); },
      );
    } else {
      policyDone(core, pool, req, client, route, call, v);
    }
    return true;
  };
}
