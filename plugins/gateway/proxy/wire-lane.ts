/**
 * The wire lane: the request walk on the host's raw HTTP/1.1 front (plugin serve.wire). Input: a
 * parsed head (and its whole body, when it came with the head, else the body streamed as it comes:
 * chunked or longer than the first read, Expect: 100-continue included; the handler sets
 * `streamsBodies`); output: bytes on the client's socket. The stages are the shared ones (screen,
 * policy, admit, the attempt driver, account); what is this lane's own is how an attempt is sent and
 * its answer written (wire-attempts.ts). HTTP/1.0 is taken too (`takesHttp10`). Declined (→ fetch lane):
 * absolute-form targets, the admin and edge paths, an HTTP/1.0 Upgrade, and with upstream_client "fetch"
 * streamed bodies and HTTP/1.0.
 */
import type { WireClient, WireHandler, WireRequest } from "../../../src/core/wire";
import { requestIdFrom } from "./traceparent";
import type { CompiledRoute } from "./compiled-route";
import { isRefusal, newCall, type Call, type ProxyCore } from "./pipeline";
import { isAdminPath, screen } from "./screen";
import { checkPolicy, verdictOf, type PolicyVerdict } from "./policy";
import type { EdgeDecision } from "../edge-policy/contract";
import { admit, settle } from "./admit";
import { account } from "./account";
import type { ConnectionPool } from "../transport/pool";
import { sendResponse } from "./wire-response";
import { keepsAlive, refuseOnWire, streamsBody, WireAttempts } from "./wire-attempts";
import { queryAt } from "../../../src/lib/http1/target";
import { turnMonoNow } from "../../../src/lib/turn-queue";

/** Past the edge: the breaker's verdict, then the attempts. */
function policyDone(core: ProxyCore, pool: ConnectionPool, req: WireRequest, client: WireClient, route: CompiledRoute, call: Call, v: PolicyVerdict): void {
  if (v instanceof Response) {
    account(core, call, route, v.status);
    void sendResponse(client, v, keepsAlive(req, false), req.method);
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
  attempts.run();
}

/** The edge's decision once it comes: its own function, so the handler's every call makes no closure scope. */
function policyLater(core: ProxyCore, pool: ConnectionPool, req: WireRequest, client: WireClient, route: CompiledRoute, call: Call, v: Promise<EdgeDecision>): void {
  v.then(
    (d) => policyDone(core, pool, req, client, route, call, verdictOf(call, d)),
    (err: unknown) => { core.o.log.error("edge check failed", { err }); client.abort(); },
  );
}

export function createWireHandler(core: ProxyCore, pool: ConnectionPool): WireHandler {
  const o = core.o;
  const wire = function wire(req: WireRequest, client: WireClient): boolean {
    const t0 = turnMonoNow(); // the turn's arrival time: one clock reading for all its requests
    const target = req.target;
    if (target.charCodeAt(0) !== 47 /* / */) return false; // absolute-form or "*": the fetch lane sorts it out
    const q = queryAt(target);
    const path = target.slice(0, q);
    if (isAdminPath(path) || o.edgePaths.has(path)) return false;
    if (o.client.kind === "fetch" && (streamsBody(req) || req.minor === 0)) return false; // fetch() takes a stream, answers 1.1: the fetch lane's
    if (req.minor === 0) {
      if (req.upgrade !== null) return false; // no protocol switch in HTTP/1.0
      req.keepAlive = false; // its answer closes (keeping it open would need Connection: keep-alive on every kind of answer)
    }

    const h = req.headers;
    const call = newCall(req.method, path, target.slice(q), requestIdFrom(h.get("x-request-id")), req.clientIp, client.peerId, t0);
    const route = screen(core, call, h, req.framing, req.headerBytes);
    if (isRefusal(route)) { refuseOnWire(core, req, client, call, route); return true; }
    core.trace?.route(call.requestId, call.method, call.path, route, h);
    const v = checkPolicy(core, call, req, route);
    if (v instanceof Promise) policyLater(core, pool, req, client, route, call, v);
    else policyDone(core, pool, req, client, route, call, v);
    return true;
  };
  // Offered streamed bodies, Expect: 100-continue and HTTP/1.0 too (src/core/wire.ts): parsed once, relayed from here.
  return Object.assign(wire, { streamsBodies: true, takesHttp10: true });
}
