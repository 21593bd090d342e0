/**
 * One JSON access-log line per request, sampled: errors (status ≥ 500 or answered by the gateway
 * itself) always, other requests with probability `sample_rate` and at most `max_per_second`.
 * The decision is taken before building the record, so an unsampled request costs a few compares.
 */
import type { Logger } from "../../../src/core/log";

export interface AccessLogSettings {
  enabled: boolean;
  sample_rate: number;
  max_per_second: number;
}

export interface AccessRecord {
  method: string;
  path: string;
  status: number;
  service: string;
  route: string;
  instance?: string;
  ms: number;
  request_id: string;
  /** The W3C trace id, when tracing is on (host.tracing). */
  trace_id?: string;
  client: string;
  attempts?: number;
  code?: string;
}

export class AccessLog {
  private second = 0;
  private written = 0;
  private readonly log: Logger;
  constructor(log: Logger, private readonly settings: AccessLogSettings, private readonly random: () => number = Math.random) {
    this.log = log.child({ kind: "access" });
  }

  /** Should this request be logged? (Call before building the record.) */
  wants(status: number, gatewayError: boolean, now = Date.now()): boolean {
    if (!this.settings.enabled) return false;
    if (status >= 500 || gatewayError) return true;
    if (this.settings.sample_rate < 1 && this.random() >= this.settings.sample_rate) return false;
    const sec = Math.floor(now / 1000);
    if (sec !== this.second) { this.second = sec; this.written = 0; }
    if (this.written >= this.settings.max_per_second) return false;
    this.written++;
    return true;
  }

  write(r: AccessRecord): void {
    this.log.info("access", r as unknown as Record<string, unknown>);
  }
}
