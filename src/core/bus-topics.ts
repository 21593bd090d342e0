/**
 * The bus vocabulary: every topic and service that crosses a plugin boundary is declared here,
 * so producers and consumers agree on the payload's type without importing each other.
 */

/** One finished upstream call, reported by the gateway (breaker plugin consumes it). */
export interface UpstreamOutcome {
  service: string;
  /** Upstream HTTP status, or 0 when no response arrived (connect error, timeout). */
  status: number;
  latencyMs: number;
  /**
   * Set when no response arrived. "client": the client went away, or its request body broke off,
   * stalled or was too large: not the upstream's doing, so a breaker must count it neither way.
   */
  error?: "connect" | "timeout" | "reset" | "other" | "client";
  instance?: string;
}

/** A breaker changed state (breaker plugin emits; gateway, events, dashboards consume). */
export interface BreakerTransition {
  name: string;
  from: string;
  to: string;
  reason: string;
  at: number;
  /** When an OPEN breaker will let a trial call through (epoch ms), if known. */
  retryAt?: number;
}

/** An event any plugin wants on the event bus (events plugin consumes, e.g. falco alerts, breaker transitions). */
export interface PlatformEvent {
  type: string;
  source: string;
  payload: Record<string, unknown>;
  correlationId?: string;
}

/** The gateway's current service list (breaker plugin creates one breaker per service). */
export interface GatewayServices {
  services: { name: string; instances: string[] }[];
}

/** A token's jti was revoked (security plugin emits; the gateway's edge refuses it from then on). */
export interface TokenRevoked {
  jti: string;
  /** The token's exp (epoch seconds): the deny-list entry can be dropped after it. */
  exp: number;
  subject?: string;
}

export interface BusTopics {
  "upstream.outcome": UpstreamOutcome;
  "breaker.transition": BreakerTransition;
  "platform.event": PlatformEvent;
  "gateway.services": GatewayServices;
  "token.revoked": TokenRevoked;
}

export type PermitDecision = { allowed: true } | { allowed: false; retryAfterMs: number; state: string };

export interface BusServices {
  /** Synchronous, sub-microsecond: may the caller send a request to `service` now? */
  "breaker.permit": (service: string) => PermitDecision;
  /** The ports this process listens on (every hosted plugin), so the gateway refuses registrations pointing at them. */
  "host.listeners": () => readonly { plugin: string; hostname: string; port: number }[];
}
