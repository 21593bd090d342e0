/**
 * CircuitBreakerClient: typed access to the breaker plugin (seed usage):
 *
 *   const cb = new CircuitBreakerClient();                       // CIRCUIT_BREAKER_URL, else CIRCUIT_BREAKER_PORT (8012)
 *   const status = await cb.getBreakerStatus("data_service");
 *   if (status.state === "open") await cb.resetBreaker("data_service");
 *
 * Reads are retried (no answer, 5xx, 429) with full-jitter backoff; operator actions are sent once.
 * Errors are ServiceError with the service's code (BR_ERR_UNKNOWN_BREAKER, BR_ERR_UNAUTHORIZED...).
 */
import { retry } from "../lib/resilience";
import { joinUrl, requestJson, ServiceError } from "./http";
import { clientTls, serviceToken, serviceUrl, type ClientTls, type TlsSource } from "./env";

export { ServiceError };

export type BreakerState = "closed" | "open" | "half_open" | "forced_open" | "disabled";

export interface BreakerTransitionView { from: BreakerState; to: BreakerState; reason: string; at: string; origin: "traffic" | "operator" | "remote" }

export interface BreakerSummary {
  name: string;
  state: BreakerState;
  since: string;
  failure_rate: number;
  slow_call_rate: number;
  window_calls: number;
  rejected_calls: number;
  next_half_open_at: string | null;
  retry_after_ms: number | null;
  last_transition: BreakerTransitionView | null;
  source: "gateway" | "caller" | "config";
}

export interface BreakerStatus extends BreakerSummary {
  window: { type: "count" | "time"; size: number; calls: number; failures: number; slow_calls: number; failure_rate: number; slow_call_rate: number };
  consecutive_failures: number;
  trips: number;
  half_open: { permitted: number; issued: number; completed: number; failed: number };
  totals: { success: number; failure: number; ignored: number; rejected: number };
  policy: Record<string, number>;
  instances: string[];
  transitions: BreakerTransitionView[];
}

export interface BreakerAlert { id: string; breaker: string; kind: "breaker_open" | "failure_rate_high" | "breaker_flapping"; severity: "critical" | "warning"; message: string; since: string }

export interface OperatorResult { name: string; action: string; previous_state: BreakerState; state: BreakerState }

export interface CircuitBreakerClientOptions {
  /** Default: CIRCUIT_BREAKER_URL, else http://<BIND_ADDRESS or 127.0.0.1>:<CIRCUIT_BREAKER_PORT or 8012> (src/clients/env.ts). */
  baseUrl?: string;
  /** Needed for forceOpen/forceClose/disable (and reset when the service protects it). Default: BREAKER_ADMIN_TOKEN, then <DATA_DIR>/breaker/admin-token. */
  adminToken?: string;
  timeoutMs?: number;
  /** Attempts for reads (default 3). */
  retries?: number;
  /** Client TLS; default from the environment (TRADPAL_TLS_*, or ENABLE_MTLS=true: the host's files); false: plain HTTP. */
  tls?: ClientTls | false;
}

export class CircuitBreakerClient {
  readonly baseUrl: string;
  private readonly adminToken?: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly tls?: TlsSource;

  constructor(opts: CircuitBreakerClientOptions = {}) {
    this.tls = clientTls(opts.tls);
    this.baseUrl = opts.baseUrl ?? serviceUrl("CIRCUIT_BREAKER_URL", "CIRCUIT_BREAKER_PORT", 8012, process.env, this.tls !== undefined);
    this.adminToken = opts.adminToken ?? serviceToken(["BREAKER_ADMIN_TOKEN"], "breaker/admin-token");
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.attempts = Math.max(1, opts.retries ?? 3);
  }

  private read<T>(path: string): Promise<T> {
    return retry(() => requestJson<T>(joinUrl(this.baseUrl, path), { timeoutMs: this.timeoutMs, tls: this.tls?.() }), {
      attempts: this.attempts, baseMs: 50, capMs: 1000,
      retryOn: (err) => err instanceof ServiceError && err.retryable,
    });
  }

  private act(name: string, action: string, reason?: string): Promise<OperatorResult> {
    const headers: Record<string, string> = this.adminToken ? { authorization: `Bearer ${this.adminToken}` } : {};
    return requestJson<OperatorResult>(joinUrl(this.baseUrl, `/circuit-breakers/${encodeURIComponent(name)}/${action}`), {
      method: "POST", headers, body: reason ? { reason } : undefined, timeoutMs: this.timeoutMs, tls: this.tls?.(),
    });
  }

  async list(): Promise<BreakerSummary[]> {
    return (await this.read<{ breakers: BreakerSummary[] }>("/circuit-breakers")).breakers;
  }

  getBreakerStatus(name: string): Promise<BreakerStatus> {
    return this.read<BreakerStatus>(`/circuit-breakers/${encodeURIComponent(name)}`);
  }

  resetBreaker(name: string, reason?: string): Promise<OperatorResult> { return this.act(name, "reset", reason); }
  forceOpen(name: string, reason?: string): Promise<OperatorResult> { return this.act(name, "force-open", reason); }
  forceClose(name: string, reason?: string): Promise<OperatorResult> { return this.act(name, "force-close", reason); }
  disable(name: string, reason?: string): Promise<OperatorResult> { return this.act(name, "disable", reason); }

  async alerts(): Promise<BreakerAlert[]> {
    return (await this.read<{ alerts: BreakerAlert[] }>("/alerts")).alerts;
  }

  /** The /dashboard JSON (summary, breakers with recent transitions, alerts). */
  dashboard(): Promise<Record<string, unknown>> { return this.read("/dashboard"); }
}
