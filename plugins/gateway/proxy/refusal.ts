/**
 * What the gateway answers when it answers itself: the coded error an upstream failure maps to
 * (502/504/413/499), the 503 when no instance is left, and the route's static fallback (config
 * `fallback`) that may stand in for a coded error. Each lane writes the answer its own way.
 */
import type { UpstreamErrorKind } from "../transport/upstream-client";
import type { CompiledRoute } from "./compiled-route";
import type { ProxyCore, Refusal } from "./pipeline";

/** The coded error an upstream failure is answered with. */
export function failureRefusal(core: ProxyCore, route: CompiledRoute, err: UpstreamErrorKind): Refusal {
  const svc = route.svc;
  switch (err) {
    case "body-limit": return { code: "GW_ERR_BODY_TOO_LARGE", message: `request body exceeds ${core.o.maxBodySize} bytes`, headers: { connection: "close" }, route };
    case "timeout": return { code: "GW_ERR_PROXY_UPSTREAM_TIMEOUT", message: `service "${svc.name}" did not answer within ${route.timeoutMs} ms` + (route.perTryTimeoutMs > 0 ? ` (${route.perTryTimeoutMs} ms per try)` : ""), route };
    case "connect": return { code: "GW_ERR_PROXY_UPSTREAM_CONNECT", message: `could not connect to an instance of service "${svc.name}"`, route };
    case "reset": return { code: "GW_ERR_PROXY_UPSTREAM_RESET", message: "the upstream closed the connection before answering", route };
    case "client": return { code: "GW_ERR_CLIENT_ABORTED", message: "the client went away, or its request body broke off or stalled, before the upstream answered", headers: { connection: "close" }, route };
    default: return { code: "GW_ERR_PROXY_FAILED", message: "the upstream call failed", route };
  }
}

export function noInstanceRefusal(route: CompiledRoute): Refusal {
  return { code: "GW_ERR_NO_HEALTHY_UPSTREAM", message: `no healthy instance of service "${route.svc.name}" is available`, headers: { "retry-after": "1" }, route };
}

/** The route's static fallback for this refusal, with the request id set; undefined: answer the coded error. */
export function fallbackFor(r: Refusal, requestId: string): Response | undefined {
  const make = r.route?.fallback?.[r.code];
  if (make === undefined) return undefined;
  const res = make();
  res.headers.set("x-request-id", requestId);
  return res;
}
