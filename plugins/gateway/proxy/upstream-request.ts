/**
 * Between admission and the attempts: what goes upstream. The target (the route's prefix stripped,
 * its rewrite applied to the normalised path) and the forwarding facts every attempt carries
 * (client address, proto, host, request id, the hop's traceparent).
 */
import type { HeaderView } from "../../../src/lib/http1/pair-headers";
import { stripPrefix } from "./route-table";
import { applyUrlProgram } from "../transforms";
import type { CompiledRoute } from "./compiled-route";
import type { ForwardingInfo } from "./forward-headers";
import { mintTraceparent } from "./traceparent";
import type { Call, ProxyCore } from "./pipeline";

/** Path and query as the upstream receives them. */
export function upstreamTarget(route: CompiledRoute, call: Call): string {
  const upstreamPath = route.strip ? stripPrefix(call.path, route.prefix) : call.path;
  return route.transforms.url ? applyUrlProgram(upstreamPath, call.query, route.transforms.url) : upstreamPath + call.query;
}

/** The X-Forwarded-*, Forwarded, X-Request-Id and traceparent facts for this request. */
export function forwardingOf(core: ProxyCore, call: Call, h: HeaderView, proto: "http" | "https"): ForwardingInfo {
  const incoming = h.get("traceparent");
  return {
    clientIp: call.clientIp, proto, host: h.get("host"), requestId: call.requestId,
    traceparent: core.trace?.traceparent?.(call.requestId, incoming) ?? mintTraceparent(incoming), trustChain: core.o.trustForwarded,
  };
}
