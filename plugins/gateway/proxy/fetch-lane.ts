/**
 * The fetch lane: the request walk for what Bun.serve hands the gateway (the wire lane's declines: the
 * admin and edge paths, absolute-form targets, odd expectations; with upstream_client fetch also streamed
 * bodies and HTTP/1.0). Input: a
 * Request; output: a Response. The stages are the shared ones (screen, policy, admit, the attempt
 * driver, account); what is this lane's own is the streamed request body (counted against
 * max_body_size), the bulkhead wait, and answers built as Response objects.
 */
import type { Server } from "bun";
import { requestIdFrom } from "./traceparent";
import type { Permit } from "../../../src/contracts/bus-topics";
import type { CompiledRoute } from "./compiled-route";
import { applyHeaderProgram } from "../transforms";
import { framingProblem, headerBlock, headerBytes, setForwardingHeaders, stripHopByHop } from "./forward-headers";
import { gatewayError } from "../errors";
import { UpstreamError, classifyFetchError, type UpstreamResponse } from "../transport/upstream-client";
import { isRefusal, newCall, type Call, type ProxyCore, type Refusal } from "./pipeline";
import { isAdminPath, screen } from "./screen";
import { checkPolicy, verdictOf, type PolicyVerdict } from "./policy";
import { admit, enterBulkhead, settle } from "./admit";
import { AttemptDriver, mayRetry, type AttemptLane } from "./attempt";
import { fallbackFor } from "./refusal";
import { answerHeaders } from "./response-head";
import { account } from "./account";
import { forwardingOf, upstreamTarget } from "./upstream-request";
import type { Member } from "./balancers";
import { rawTarget } from "../../../src/lib/http1/raw-target";
import { pathAt, queryAt } from "../../../src/lib/http1/target";
import { peerIdentity } from "../../../src/core/peer-identity";

/** Bun refuses header sections above this itself (431), so our own count is needed only below it. */
const BUN_HEADER_LIMIT = 16 * 1024;

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

/** A refusal as a Response (the route's fallback, or the coded error), accounted. */
function refusalResponse(core: ProxyCore, call: Call, r: Refusal, member?: Member, attempts?: number): Response {
  const res = fallbackFor(r, call.requestId) ?? gatewayError(r.code, call.requestId, r.message, r.headers);
  account(core, call, r.route, res.status, member, attempts, r.code);
  return res;
}

/** One admitted request's attempts on the fetch lane, settled into one Response. */
class FetchAttempts implements AttemptLane<UpstreamResponse> {
  readonly driver: AttemptDriver<UpstreamResponse>;
  private readonly headers: Headers | string;
  private readonly pathAndQuery: string;
  private readonly body: ReadableStream<Uint8Array> | null;
  private readonly hasLength: boolean;
  private resolve!: (r: Response) => void;
  private reject!: (e: unknown) => void;

  constructor(private readonly core: ProxyCore, private readonly req: Request, private readonly route: CompiledRoute, private readonly call: Call, permit: Permit) {
    const h = req.headers;
    const cl = h.get("content-length");
    this.hasLength = cl !== null;
    this.pathAndQuery = upstreamTarget(route, call);
    const forwarding = forwardingOf(core, call, h, req.url.charCodeAt(4) === 115 /* https */ ? "https" : "http");
    if (core.o.client.acceptsHeaderBlock && route.transforms.requestInBlock) {
      // One pass over the client's headers into the serialised block the pooled client writes.
      this.headers = headerBlock(h, forwarding, route.preserveHost, route.transforms.request, route.transforms.requestBlock);
    } else {
      const out = new Headers(h);
      stripHopByHop(out);
      if (!route.preserveHost) out.delete("host");
      setForwardingHeaders(out, forwarding);
      if (route.transforms.request) applyHeaderProgram(out, route.transforms.request);
      this.headers = out;
    }
    let body: ReadableStream<Uint8Array> | null = (cl !== null && cl !== "0") || h.get("transfer-encoding") !== null ? req.body : null;
    if (body !== null && cl === null) body = limitBody(body, core.o.maxBodySize);
    this.body = body;
    // A streamed body is consumed by the first attempt: only a bodiless request is sent again.
    this.driver = new AttemptDriver(core, route, call, permit, body === null && mayRetry(route, req.method), this);
  }

  /** The bulkhead slot (held until the response head or failure), then the attempts. */
  run(): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const bulkhead = this.route.svc.bulkhead;
      const slot = bulkhead === undefined ? true : enterBulkhead(this.route);
      if (slot === true) this.start();
      else if (slot instanceof Promise) slot.then((s) => (s === true ? this.start() : this.driver.refuse(s))).catch((e: unknown) => this.crashed(e));
      else this.driver.refuse(slot);
    });
  }

  private start(): void {
    const bulkhead = this.route.svc.bulkhead;
    if (bulkhead !== undefined) this.driver.release = () => bulkhead.leave();
    try { this.driver.go(); } catch (e) { this.reject(e); }
  }

  private crashed(e: unknown): void {
    this.driver.end();
    this.reject(e);
  }

  send(member: Member, deadline: number): void {
    const route = this.route;
    const host = this.req.headers.get("host");
    this.core.o.client.send({
      base: member.url, path: this.pathAndQuery, method: this.req.method, headers: this.headers, blockHasHost: route.preserveHost && host !== null, blockHasLength: this.hasLength,
      body: this.body, connectTimeoutMs: route.connectTimeoutMs, deadline, tls: route.svc.tlsSource?.get(), signal: this.req.signal,
    }).then((res) => this.driver.result(res.status, undefined, res), (e: unknown) => this.driver.result(0, classifyFetchError(e, false).kind, undefined))
      .catch((e: unknown) => this.crashed(e));
  }

  answer(up: UpstreamResponse, _status: number, member: Member, attempts: number): void {
    const res = new Response(up.body as BodyInit | null, { status: up.status, statusText: up.statusText, headers: answerHeaders(up.headers, this.call, this.route) });
    account(this.core, this.call, this.route, res.status, member, attempts);
    this.resolve(res);
  }

  refuse(r: Refusal, member: Member | undefined, attempts: number | undefined): void {
    this.resolve(refusalResponse(this.core, this.call, r, member, attempts));
  }
}

export function createProxyHandler(core: ProxyCore) {
  const o = core.o;
  const checkHeaderSize = o.maxHeaderSize < BUN_HEADER_LIMIT;

  function policyDone(req: Request, route: CompiledRoute, call: Call, v: PolicyVerdict): Response | Promise<Response> {
    if (v instanceof Response) { account(core, call, route, v.status); return v; }
    if (v !== undefined) return refusalResponse(core, call, v);
    const permit = admit(core, route, call.requestId);
    if (isRefusal(permit)) return refusalResponse(core, call, permit);
    let attempts: FetchAttempts;
    try {
      attempts = new FetchAttempts(core, req, route, call, permit);
    } catch (e) {
      settle(permit, 0, 0, "unsent");
      throw e;
    }
    return attempts.run();
  }

  return function handle(req: Request, server: Server<unknown>): Response | Promise<Response> {
    const t0 = performance.now();
    const url = req.url;
    const q = queryAt(url, pathAt(url));
    // The path as sent, where Bun's URL parser resolved dots or backslashes: screened like the wire lane's.
    const raw = rawTarget(req);
    const path = raw !== undefined ? raw.slice(0, queryAt(raw)) : url.slice(pathAt(url), q);

    if (isAdminPath(path)) return o.admin(req, server.requestIP(req)?.address ?? "");
    if (o.edgePaths.has(path)) {
      const p = o.policy;
      return p.handleOwn !== undefined ? p.handleOwn(req, server.requestIP(req)?.address ?? "") : p.app.handle(req);
    }

    const h = req.headers;
    const call = newCall(req.method, path, url.slice(q), requestIdFrom(h.get("x-request-id")), server.requestIP(req)?.address ?? "", peerIdentity(req), t0);
    const route = screen(core, call, h, framingProblem(h), checkHeaderSize ? headerBytes(h) : undefined);
    if (isRefusal(route)) return refusalResponse(core, call, route);
    core.trace?.route(call.requestId, call.method, call.path, route, h);
    const v = checkPolicy(core, call, req, route);
    if (v instanceof Promise) return v.then((d) => policyDone(req, route, call, verdictOf(call, d)));
    return policyDone(req, route, call, v);
  };
}
