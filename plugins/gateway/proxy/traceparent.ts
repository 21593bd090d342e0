/**
 * The proxy hop's W3C traceparent and the request id rule, both defined once elsewhere: the trace
 * context in src/lib/trace/trace.ts (parse, format, pooled random hex: one crypto fill per 4 KiB of
 * ids), the X-Request-Id rule in src/core/http.ts. Keep the caller's trace id (and sampled flag),
 * mint our span id; a missing or malformed header starts a sampled trace.
 */
import { formatTraceparent, newTraceparent, parseTraceparent, randomHex } from "../../../src/lib/trace/context";
import { noteMintedTrace } from "../../../src/core/request-context";

export function mintTraceparent(incoming: string | null): string {
  const p = parseTraceparent(incoming);
  if (p !== undefined) return formatTraceparent(p.traceId, randomHex(16), p.sampled);
  // A trace starts here: the request's log lines carry its id (the upstream's will too).
  const tp = newTraceparent();
  noteMintedTrace(tp);
  return tp;
}

/** The client's X-Request-Id when acceptable, else a fresh UUID: the one rule in src/core/http.ts. */
export { acceptRequestId as requestIdFrom } from "../../../src/core/http";
