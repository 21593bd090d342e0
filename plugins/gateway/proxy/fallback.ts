/**
 * Static fallback responses (config `fallback` per service): when a listed failure happens, the
 * client gets the configured response instead of the gateway's coded error. Compiled once per
 * provision into a lookup by error code, so the hot path pays one property read.
 */
import { compileFallback } from "../../../src/lib/resilience";
import type { GatewayErrorCode } from "../errors";
import type { FallbackReason } from "../schema";

/** Which gateway errors each fallback reason covers. */
const CODES_BY_REASON: Record<FallbackReason, readonly GatewayErrorCode[]> = {
  circuit_open: ["GW_ERR_CIRCUIT_OPEN"],
  no_healthy_upstream: ["GW_ERR_NO_HEALTHY_UPSTREAM"],
  timeout: ["GW_ERR_PROXY_UPSTREAM_TIMEOUT"],
  bulkhead_full: ["GW_ERR_BULKHEAD_FULL"],
  upstream_error: ["GW_ERR_PROXY_UPSTREAM_CONNECT", "GW_ERR_PROXY_UPSTREAM_RESET", "GW_ERR_PROXY_FAILED"],
};

export type FallbackTable = Partial<Record<GatewayErrorCode, () => Response>>;

export interface FallbackSettings {
  status: number;
  headers: Record<string, string>;
  body: string | Record<string, unknown> | unknown[];
  on: readonly FallbackReason[];
}

export function compileFallbacks(spec: FallbackSettings | undefined): FallbackTable | undefined {
  if (spec === undefined) return undefined;
  const table: FallbackTable = {};
  for (const reason of new Set(spec.on)) {
    const make = compileFallback({ status: spec.status, body: spec.body, headers: { ...spec.headers, "x-gateway-fallback": reason } });
    for (const code of CODES_BY_REASON[reason]) table[code] = make;
  }
  return table;
}
