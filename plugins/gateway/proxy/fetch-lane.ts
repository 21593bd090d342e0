/**
 * The proxy hot path: limits → route → edge policy → breaker permit → pick an instance → forward
 * (streaming both ways) → retries within budget → metrics, outcome, access log. Everything it can,
 * it reads from structures compiled at provision time.
 */
import type { Server } from "bun";
import { mintTraceparent, requestIdFrom } from "./traceparent";
import { BulkheadRejectedError, fullJitterBackoff } from "../../../src/lib/resilience";
import type { Permit } from "../../../src/contracts/bus-topics";
import type { EdgeDecision } from "../edge/contract";
import { stripPrefix } from "./route-table";
import type { CompiledRoute } from "./compiled-route";
import { applyHeaderProgram, applyUrlProgram } from "../transforms";
import { framingProblem, headerBlock, headerBytes, setForwardingHeaders, stripHopByHop, type ForwardingInfo } from "./forward-headers";
import { gatewayError } from "../errors";
import { UpstreamError, classifyFetchError, type UpstreamErrorKind, type UpstreamResponse } from "../transport/upstream-client";
import { IDEMPOTENT, ProxyCore, isAdminPath, isRefusal, type Refusal } from "./core";
import type { Member } from "./balancers";
import { rawTarget } from "../../../src/lib/http1/raw-target";
import { peerIdentity } from "../../../src/core/peer-identity";
import { spiffeRefusal } from "../platform-upstreams";

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

/** The fetch lane: a Request from Bun.serve (or the wire lane's fallback) → a Response. */
export function createProxyHandler(core: ProxyCore) {
  const o = core.o;
  const client = o.client;
  const checkHeaderSize = o.maxHeaderSize < BUN_HEADER_LIMIT;
  const trace = core.trace;

  function finish(route: CompiledRoute | undefined, req: Request, path: string, res: Response, requestId: string, clientIp: string, t0: number, member?: Member, attempts?: number, code?: string): Response {
    core.account(route, req.method, path, res.status, requestId, clientIp, t0, member, attempts, code);
    return res;
  }

  function refuse(r: Refusal, req: Request, path: string, requestId: string, clientIp: string, t0: number, member?: Member, attempts?: number): Response {
    const fallback = r.route?.fallback?.[r.code];
    if (fallback !== undefined) {
      const res = fallback();
      res.headers.set("x-request-id", requestId);
      return finish(r.route, req, path, res, requestId, clientIp, t0, member, attempts, r.code);
    }
    return finish(r.route, req, path, gatewayError(r.code, requestId, r.message, r.headers), requestId, clientIp, t0, member, attempts, r.code);
  }

  /** Everything after the breaker's permit: the bulkhead slot, the attempts (retries within budget), the answer. */
  async function forward(permit: Permit, req: Request, route: CompiledRoute, path: string, query: string, clientIp: string, requestId: string, t0: number, decision: EdgeDecision | undefined): Promise<Response> {
    // How the request ended, for its permit: the last attempt's result, "unsent" until one is made.
    let lastStatus = 0;
    let lastLatencyMs = 0;
    let lastErr: UpstreamErrorKind | "unsent" | undefined = "unsent";
    const svc = route.svc;
    const bulkhead = svc.bulkhead;
    let inside = false;
    // The permit is settled in one place, the finally at the end, however this ends: answered, refused,
    // no instance, bulkhead full, client gone, timed out, budget spent, or thrown.
    try {
      const h = req.headers;
      const cl = h.get("content-length");
      const hasBody = (cl !== null && cl !== "0") || h.get("transfer-encoding") !== null;

      // Upstream path: strip prefix, then the route's rewrite.
      const upstreamPath = route.strip ? stripPrefix(path, route.prefix) : path;
      const pathAndQuery = route.transforms.url ? applyUrlProgram(upstreamPath, query, route.transforms.url) : upstreamPath + query;

      const host = h.get("host");
      const forwarding: ForwardingInfo = {
        clientIp, proto: req.url.charCodeAt(4) === 115 /* https */ ? "https" : "http", host, requestId,
        traceparent: trace?.traceparent?.(requestId, h.get("traceparent")) ?? mintTraceparent(h.get("traceparent")), trustChain: o.trustForwarded,
      };
      let out: Headers | string;
      if (client.acceptsHeaderBlock && route.transforms.requestInBlock) {
        // One pass over the client's headers into the serialised block the pooled client writes.
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
      if (bulkhead !== undefined) {
        if (!bulkhead.tryEnter()) {
          if (bulkhead.queued >= bulkhead.maxQueue) return bulkheadFull(route, req, path, requestId, clientIp, t0, "queue_full");
          try {
            await bulkhead.enter();
          } catch (e) {
            return bulkheadFull(route, req, path, requestId, clientIp, t0, e instanceof BulkheadRejectedError ? e.reason : "queue_full");
          }
        }
        // The slot is held until the upstream's response head (or failure), then handed to the next in queue.
        inside = true;
      }
      for (;;) {
        const now = attempt === 0 ? now0 : Date.now();
        const member = core.pick(route, now, exclude);
        trace?.instance(requestId, route, attempt, member, exclude, lastStatus, lastErr);
        if (member === undefined) return refuse(core.noInstance(route), req, path, requestId, clientIp, t0, undefined, attempt + 1);
        const state = member.state;
        state.active++;
        const started = performance.now();
        let res: UpstreamResponse | undefined;
        let err: UpstreamError | undefined;
        try {
          res = await client.send({ base: member.url, path: pathAndQuery, method: req.method, headers: out, blockHasHost: route.preserveHost && host !== null, blockHasLength: cl !== null, body, connectTimeoutMs: route.connectTimeoutMs, deadline: core.attemptDeadline(route, deadline, now), tls: svc.tlsSource?.get(), signal: req.signal });
        } catch (e) {
          err = classifyFetchError(e, false);
        } finally {
          state.active--;
        }
        const latencyMs = performance.now() - started;
        const doneAt = now + latencyMs;
        const status = res !== undefined ? res.status : 0;
        core.recordAttempt(route, member, latencyMs, doneAt, status, err?.kind);
        lastStatus = status;
        lastLatencyMs = latencyMs;
        lastErr = err?.kind;

        if (retryable && core.retryable(route, attempt, doneAt, deadline, status, err?.kind) && core.tryRetry(route, doneAt, requestId)) {
          res?.discard();
          const delay = fullJitterBackoff(attempt, route.backoffBaseMs, route.backoffCapMs);
          if (delay > 0) await Bun.sleep(delay);
          attempt++;
          exclude = member;
          continue;
        }

        if (err !== undefined) return refuse(core.failure(route, err.kind), req, path, requestId, clientIp, t0, member, attempt + 1);

        const up = res!;
        const rh = up.headers;
        rh.set("x-request-id", requestId);
        if (route.transforms.response) applyHeaderProgram(rh, route.transforms.response);
        const extra = decision?.responseHeaders;
        if (extra) for (let i = 0; i < extra.length; i++) rh.append(extra[i][0], extra[i][1]);
        const response = new Response(up.body as BodyInit | null, { status: up.status, statusText: up.statusText, headers: rh });
        return finish(route, req, path, response, requestId, clientIp, t0, member, attempt + 1);
      }
    } finally {
      if (inside) bulkhead!.leave();
      core.settle(permit, lastStatus, lastLatencyMs, lastErr);
    }
  }

  function handle(req: Request, server: Server<unknown>): Response | Promise<Response> {
    const t0 = performance.now();
    const url = req.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const q = url.indexOf("?", pathStart);
    let path = q === -1 ? url.slice(pathStart) : url.slice(pathStart, q);
    const query = q === -1 ? "" : url.slice(q);
    const raw = rawTarget(req); // the path as sent, where Bun's URL parser resolved dots or backslashes: screened like the wire lane's
    if (raw !== undefined) { const rq = raw.indexOf("?"); path = rq === -1 ? raw : raw.slice(0, rq); }

    if (isAdminPath(path)) return o.admin(req, server.requestIP(req)?.address ?? "");
    if (o.policy !== undefined && o.edgePaths.has(path)) {
      const p = o.policy;
      return p.handleOwn !== undefined ? p.handleOwn(req, server.requestIP(req)?.address ?? "") : p.app.handle(req);
    }

    const h = req.headers;
    const clientIp = server.requestIP(req)?.address ?? "";
    const requestId = requestIdFrom(h.get("x-request-id"));

    const screened = core.screen(req.method, path, h, framingProblem(h), checkHeaderSize ? headerBytes(h) : undefined);
    if (!("svc" in screened)) return refuse(screened, req, path, requestId, clientIp, t0);
    const route = screened;
    path = core.screenedPath; // normalised: routed and forwarded alike
    trace?.route(requestId, req.method, path, route, h);
    const peer = route.svc.settings.require_spiffe.length > 0 ? spiffeRefusal(route, peerIdentity(req)) : undefined;
    if (peer) return refuse(peer, req, path, requestId, clientIp, t0);
    if (o.policy === undefined) return admitted(req, route, path, query, clientIp, requestId, t0, undefined);
    const decision = o.policy.check(req, route.edge, clientIp);
    trace?.edge(requestId, route, decision);
    if (decision instanceof Promise) {
      return decision.then((d) => d.reject ? finish(route, req, path, d.reject, requestId, clientIp, t0) : admitted(req, route, path, query, clientIp, requestId, t0, d));
    }
    if (decision.reject) return finish(route, req, path, decision.reject, requestId, clientIp, t0);
    return admitted(req, route, path, query, clientIp, requestId, t0, decision);
  }

  function admitted(req: Request, route: CompiledRoute, path: string, query: string, clientIp: string, requestId: string, t0: number, decision: EdgeDecision | undefined): Response | Promise<Response> {
    const permit = core.admit(route);
    trace?.breaker(requestId, route, permit);
    if (isRefusal(permit)) return refuse(permit, req, path, requestId, clientIp, t0);
    return forward(permit, req, route, path, query, clientIp, requestId, t0, decision);
  }

  function bulkheadFull(route: CompiledRoute, req: Request, path: string, requestId: string, clientIp: string, t0: number, why: "queue_full" | "queue_timeout"): Response {
    const b = route.svc.bulkhead!;
    const message = why === "queue_full"
      ? `service "${route.svc.name}" has ${b.maxConcurrent} calls in flight and ${b.maxQueue} queued`
      : `no call slot for service "${route.svc.name}" freed within ${b.queueTimeoutMs} ms`;
    return refuse({ code: "GW_ERR_BULKHEAD_FULL", message, headers: { "retry-after": "1" }, route }, req, path, requestId, clientIp, t0);
  }

  return handle;
}
