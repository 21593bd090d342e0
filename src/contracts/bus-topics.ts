/**
 * The bus vocabulary: every topic and service that crosses a plugin boundary is declared here,
 * so producers and consumers agree on the payload's type without importing each other.
 */

export type UpstreamOutcomeError = "connect" | "timeout" | "reset" | "other" | "client" | "unsent";

/**
 * One finished request to a service, reported on the bus by a caller that holds no Permit object
 * (the breaker plugin consumes it). The gateway settles its permits instead (see Permit).
 */
export interface UpstreamOutcome {
  service: string;
  /** Upstream HTTP status, or 0 when no response arrived (connect error, timeout). */
  status: number;
  latencyMs: number;
  /**
   * Set when no response arrived. "client": the client went away, or its request body broke off,
   * stalled or was too large: not the upstream's doing, so a breaker must count it neither way.
   * "unsent": no upstream call was made (no healthy instance, bulkhead full, the caller's own fault):
   * also counted neither way.
   */
  error?: UpstreamOutcomeError;
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
  /** A stable event id (uuid): a second delivery with the same id is stored once (the bus bridge retries). */
  id?: string;
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

/** A folded Falco alert was announced (falco plugin emits; dashboards and responders may consume). */
export interface SecurityAlertNotice {
  group: string;
  kind: "new" | "escalation" | "update";
  rule: string;
  /** Falco priority, lower case: debug … emergency. */
  priority: string;
  /** Raw alerts folded into this group so far. */
  count: number;
  output: string;
  fields: Record<string, unknown>;
  tags: string[];
  service?: string;
  spiffeId?: string;
  firstSeen: string;
  lastSeen: string;
}

/**
 * A service is quarantined or released (falco plugin emits). Consumers: the gateway answers the service's
 * routes 503 GW_ERR_SERVICE_QUARANTINED and refuses tokens whose subject is the service until "lift".
 * Retained on the bus, but it carries one service: a consumer keeps its own set of quarantined services.
 */
export interface ServiceQuarantine {
  service: string;
  action: "quarantine" | "lift";
  reason: string;
  /** SPIFFE id of the service's certificates (spiffe://<trust_domain>/service/<name>). */
  spiffeId?: string;
  rule?: string;
  /** uuid of the alert that triggered it. */
  alert?: string;
  at: number;
  by: string;
}

export interface BusTopics {
  "upstream.outcome": UpstreamOutcome;
  "breaker.transition": BreakerTransition;
  "platform.event": PlatformEvent;
  "gateway.services": GatewayServices;
  "token.revoked": TokenRevoked;
  "security.alert": SecurityAlertNotice;
  "service.quarantine": ServiceQuarantine;
}

/**
 * A call slot from a breaker. Settle it exactly once, when the whole request is over (after retries and
 * failover): the first settle counts, later ones do nothing. A permit never settled holds a half-open
 * trial slot until the breaker's half_open_max_wait.
 */
export interface Permit {
  readonly allowed: true;
  settle(status: number, latencyMs: number, error?: UpstreamOutcomeError): void;
}

/** The permit of a call no breaker guards: settling it does nothing. */
export const UNGUARDED: Permit = Object.freeze({ allowed: true as const, settle(): void {} });

export type PermitDecision = Permit | { allowed: false; retryAfterMs: number; state: string };

export interface BusServices {
  /** Synchronous, sub-microsecond: may the caller send a request to `service` now? A permit must be settled. */
  "breaker.permit": (service: string) => PermitDecision;
  /**
   * Store a platform event durably (the events plugin provides it): resolves once stored, also for an
   * event refused as invalid (logged and counted there: retrying cannot help); rejects when the store
   * failed, so a caller that must not lose it (the bus bridge) tries again.
   */
  "events.ingest": (event: PlatformEvent) => Promise<void>;
  /** The ports this process listens on (every hosted plugin), so the gateway refuses registrations pointing at them. */
  "host.listeners": () => readonly { plugin: string; hostname: string; port: number }[];
}
