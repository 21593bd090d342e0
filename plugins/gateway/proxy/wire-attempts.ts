/**
 * One admitted request's attempts on the wire lane (see wire-lane.ts): the bulkhead slot, then each
 * attempt sent as a RelayExchange on a pooled connection (TLS for https instances) or through fetch()
 * (upstream_client "fetch"), the request body whole with the head or streamed after it (RelayBody),
 * and the answer relayed as bytes, or the gateway's own refusal written out.
 */
import type { WireClient, WireRequest } from "../../../src/core/wire";
import type { Permit } from "../../../src/contracts/bus-topics";
import type { CompiledRoute } from "./compiled-route";
import { headerBlock } from "./forward-headers";
import { GatewayErrors } from "../errors";
import type { Call, ProxyCore, Refusal } from "./pipeline";
import { enterBulkhead } from "./admit";
import { AttemptDriver, mayRetry, type AttemptLane } from "./attempt";
import { fallbackFor } from "./refusal";
import { appendedLines, answerHeaders, rewrittenHead, switchHead } from "./response-head";
import { account } from "./account";
import { forwardingOf, upstreamTarget } from "./upstream-request";
import { RelayExchange, type RelayListener } from "../transport/relay-exchange";
import { RelayBody, type BodyListener } from "../transport/relay-body";
import type { ConnectionPool } from "../transport/pool";
import { classifyFetchError, type UpstreamError, type UpstreamResponse } from "../transport/upstream-client";
import type { Member } from "./balancers";
import { sendResponse, writeError } from "./wire-response";

/** The body did not come with the head: it streams (chunked, or a Content-Length longer than the first read). */
export function streamsBody(req: WireRequest): boolean {
  return req.body === null && req.framing === undefined && (req.chunked || req.contentLength > 0);
}

/**
 * Whether the connection can carry another request after the gateway's own answer. A streamed body the
 * client was never asked for under Expect: 100-continue may never come, so that connection closes (the
 * front reads and drops any other unread body).
 */
export function keepsAlive(req: WireRequest, bodyAsked: boolean): boolean {
  return req.keepAlive && req.framing === undefined && !(req.expect && !bodyAsked && streamsBody(req));
}

type WireAnswer = RelayExchange | UpstreamResponse;

/** One admitted request's attempts on the wire lane, from the first byte sent upstream to the last relayed. */
export class WireAttempts implements AttemptLane<WireAnswer>, RelayListener, BodyListener {
  readonly driver: AttemptDriver<WireAnswer>;
  /** The forwarded header lines (no Host unless preserved, no final CRLF). */
  private readonly block: string;
  private readonly pathAndQuery: string;
  private readonly requestLine: string;
  /** The attempt waiting for its response head (pooled relay), or the fetch() attempt's abort. */
  private ex: RelayExchange | null = null;
  private ac: AbortController | null = null;
  /** The request body when it streams (null: none, or whole in req.body). */
  private readonly body: RelayBody | null = null;
  /** Why the streamed body broke, when its chunk framing did. */
  private bodyFault: string | undefined;

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
    // Expect: 100-continue is answered on this hop (the front's 100 once the body is asked for), as Envoy
    // and nginx do: the upstream is sent the body without being asked.
    if (req.expect) dropField(h.pairs, "expect");
    this.pathAndQuery = upstreamTarget(route, call);
    // HTTP/1.0 goes on as 1.0 (as nginx speaks to upstreams): the answer then cannot be chunked, which its client could not read.
    this.requestLine = req.method + " " + this.pathAndQuery + (req.minor === 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
    let block = headerBlock(h, forwardingOf(core, call, h, "http"), route.preserveHost, route.transforms.request, route.transforms.requestBlock);
    const retries = mayRetry(route, req.method);
    if (streamsBody(req)) {
      this.body = new RelayBody(pool, client, req.chunked, core.o.maxBodySize, this, retries);
      if (req.chunked) block += "transfer-encoding: chunked\r\n"; // framed again by RelayBody (the client's TE is hop-by-hop)
    }
    // An upgrade (WebSocket...) keeps its hop-by-hop pair on this hop: the upstream must see the ask.
    this.block = req.upgrade === null ? block : block + "connection: upgrade\r\nupgrade: " + req.upgrade + "\r\n";
    this.driver = new AttemptDriver<WireAnswer>(core, route, call, permit, retries, this);
    client.onClose = () => this.clientGone();
  }

  /** The bulkhead slot (held until the response head or failure; queued, or refused), then the attempts. */
  run(): void {
    const bulkhead = this.route.svc.bulkhead;
    if (bulkhead === undefined) { this.driver.go(); return; }
    const slot = enterBulkhead(this.route);
    if (slot === true) this.start();
    else if (slot instanceof Promise) this.startWhen(slot);
    else this.driver.refuse(slot);
  }

  /** A queued bulkhead slot: its own method, so run()'s every call makes no closure scope. */
  private startWhen(slot: Promise<true | Refusal>): void {
    slot.then((s) => (s === true ? this.start() : this.driver.refuse(s))).catch((err: unknown) => {
      this.core.o.log.error("wire attempt failed", { err, request_id: this.call.requestId });
      this.client.abort();
    });
  }

  private start(): void {
    const bulkhead = this.route.svc.bulkhead!;
    this.driver.release = () => bulkhead.leave();
    this.driver.go();
  }

  /** Retry rule (relay-body.ts): a streamed body is sent again only if none of it was read, or all of it is kept. */
  replayable(): boolean { return this.body === null || this.body.replayable; }

  /** The streamed body broke on the client's side: the attempt waiting for its head is abandoned as the client's doing. */
  bodyFailed(kind: "client" | "body-limit", message: string): void {
    if (kind === "client") this.bodyFault = message;
    const ex = this.ex;
    this.ex = null;
    if (ex !== null && ex.abandon()) this.driver.result(0, kind, undefined);
    // else an answer is being relayed already: the front closes the connection after it
  }

  send(member: Member, deadline: number, now: number): void {
    if (this.core.o.client.kind === "fetch") { this.viaFetch(member, deadline); return; }
    // https instances: TLS on the pooled connection, with the service's upstream TLS options (mTLS) when set.
    const https = member.url.charCodeAt(4) === 115;
    const pool = this.pool.poolFor(member.url, https ? (this.route.svc.tlsSource?.get() ?? true) : undefined);
    const text = this.requestLine + (this.route.preserveHost && this.req.headers.has("host") ? "" : "host: " + pool.hostHeader + "\r\n") + this.block + "\r\n";
    // Header values are latin1 strings: bytes above 0x7f must go back as they came, not UTF-8 encoded.
    const head = this.req.ascii ? text : Buffer.from(text, "latin1");
    const ex = new RelayExchange(this.pool, head, this.body ?? this.req.body, this.req.method, deadline, now, this.route.connectTimeoutMs, this, this.req.upgrade !== null, this.req.minor === 0);
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
    // Bad chunk framing: the same coded 400 as any framing the gateway cannot trust, still the client's outcome.
    if (this.bodyFault !== undefined && r.code === "GW_ERR_CLIENT_ABORTED") r = { code: "GW_ERR_AMBIGUOUS_LENGTH", message: `refused: ${this.bodyFault}`, headers: { connection: "close" }, route: r.route };
    refuseOnWire(this.core, this.req, this.client, this.call, r, member, attempts, this.body !== null && this.body.asked);
  }
}

/** Answer a request the gateway refuses itself (coded error as bytes, or the route's static fallback). */
export function refuseOnWire(core: ProxyCore, req: WireRequest, client: WireClient, call: Call, r: Refusal, member?: Member, attempts?: number, bodyAsked = false): void {
  const keepAlive = keepsAlive(req, bodyAsked);
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


/** Remove every `name` field from a parsed head's pairs. */
function dropField(pairs: string[], name: string): void {
  for (let i = pairs.length - 2; i >= 0; i -= 2) if (pairs[i] === name) pairs.splice(i, 2);
}
