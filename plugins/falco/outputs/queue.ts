/**
 * One output's delivery lane: a bounded queue (the oldest is dropped, and counted, when full — intake
 * never waits on an output), one request in flight at a time, retry with full-jitter exponential
 * backoff for as long as the output is down (so delivery resumes by itself when it returns), a 4xx
 * other than 408/429 drops the batch (the output refuses it; retrying would not help).
 */
import { fullJitterBackoff, sleep } from "../../../src/lib/resilience";
import type { Logger } from "../../../src/core/log";
import type { Notice } from "../notice";
import { atLeast, type Priority } from "../priority";
import { requestFor, type OutputType } from "./formats";
import { closeSpan, openSpan } from "../spans";
import { SPAN_KIND, type Tracer } from "../../../src/lib/trace/trace";

export interface LaneSettings {
  name: string;
  type: OutputType;
  url: string;
  minimumPriority: Priority;
  headers: Record<string, string>;
  timeoutMs: number;
  maxQueue: number;
  batch: number;
  retryBaseMs: number;
  retryMaxMs: number;
  expiresAfterMs: number;
}

export interface LaneStats {
  queued: number;
  sent: number;
  failed_attempts: number;
  dropped_overflow: number;
  dropped_refused: number;
  up: boolean;
  last_error?: string;
  last_success?: string;
}

export type DeliveryResult = "sent" | "retry" | "refused" | "dropped";

export class OutputLane {
  private readonly queue: Notice[] = [];
  private running = false;
  private readonly stats_: Omit<LaneStats, "queued"> = { sent: 0, failed_attempts: 0, dropped_overflow: 0, dropped_refused: 0, up: true };
  private readonly url: string;

  constructor(readonly s: LaneSettings, private readonly log: Logger, private readonly signal: AbortSignal, private readonly onResult: (lane: string, r: DeliveryResult, n: number) => void = () => {}, private readonly tracer?: Tracer) {
    this.url = s.url.replace(/\/+$/, "");
  }

  /** Queue a notice if it is at or above this output's minimum priority (`force`: the test alert). Never blocks, never throws. */
  offer(n: Notice, force = false): boolean {
    if ((!force && !atLeast(n.priority, this.s.minimumPriority)) || this.signal.aborted) return false;
    if (this.queue.length >= this.s.maxQueue) {
      this.queue.shift();
      this.stats_.dropped_overflow++;
      this.onResult(this.s.name, "dropped", 1);
    }
    this.queue.push(n);
    if (!this.running) { this.running = true; queueMicrotask(() => void this.run()); }
    return true;
  }

  stats(): LaneStats {
    return { queued: this.queue.length, ...this.stats_ };
  }

  private async run(): Promise<void> {
    let attempt = 0;
    try {
      while (this.queue.length > 0 && !this.signal.aborted) {
        const batch = this.queue.slice(0, this.s.type === "alertmanager" ? this.s.batch : 1);
        const r = await this.send(batch);
        if (r === "sent" || r === "refused") {
          // The batch may have been partly overwritten by overflow while in flight: remove what is still there.
          for (const n of batch) { const i = this.queue.indexOf(n); if (i >= 0) this.queue.splice(i, 1); }
          attempt = 0;
          continue;
        }
        await sleep(Math.max(10, fullJitterBackoff(attempt++, this.s.retryBaseMs, this.s.retryMaxMs)), this.signal).catch(() => undefined);
      }
    } finally {
      this.running = false;
    }
  }

  /** One delivery attempt; a falco.output span (spans.ts) in the first notice's trace when it is sampled. */
  private async send(batch: Notice[]): Promise<DeliveryResult> {
    const span = openSpan(this.tracer, batch[0].trace);
    if (span === undefined) return this.attempt(batch, undefined);
    const r = await this.attempt(batch, span.traceparent);
    closeSpan(this.tracer!, span, "falco.output", SPAN_KIND.client, {
      "tradpal.falco.output": this.s.name, "tradpal.falco.output.type": this.s.type, "tradpal.falco.batch": batch.length, "tradpal.falco.result": r,
      "http.response.status_code": this.lastStatus || undefined,
    }, r === "retry" ? this.stats_.last_error : undefined);
    return r;
  }

  private lastStatus = 0;

  private async attempt(batch: Notice[], traceparent: string | undefined): Promise<DeliveryResult> {
    const { suffix, body } = requestFor(this.s.type, batch, this.s.expiresAfterMs);
    this.lastStatus = 0;
    try {
      const res = await fetch(this.url + suffix, {
        method: "POST", body, redirect: "manual",
        headers: { "content-type": "application/json", "user-agent": "tradpal-falco", ...this.s.headers, ...(traceparent ? { traceparent } : {}) },
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.s.timeoutMs)]),
      });
      this.lastStatus = res.status;
      const text = await res.text().catch(() => "");
      if (res.ok) {
        if (!this.stats_.up) this.log.info("falco output back up", { output: this.s.name });
        this.stats_.up = true;
        this.stats_.sent += batch.length;
        this.stats_.last_success = new Date().toISOString();
        this.onResult(this.s.name, "sent", batch.length);
        return "sent";
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        this.stats_.dropped_refused += batch.length;
        this.stats_.last_error = `HTTP ${res.status}: ${text.slice(0, 200)}`;
        this.log.warn("falco output refused a notification (dropped)", { output: this.s.name, status: res.status, body: text.slice(0, 200) });
        this.onResult(this.s.name, "refused", batch.length);
        return "refused";
      }
      return this.failed(`HTTP ${res.status}`);
    } catch (err) {
      return this.failed(String((err as Error)?.message ?? err));
    }
  }

  private failed(why: string): DeliveryResult {
    if (this.stats_.up) this.log.warn("falco output down; retrying with backoff", { output: this.s.name, err: why });
    this.stats_.up = false;
    this.stats_.failed_attempts++;
    this.stats_.last_error = why;
    this.onResult(this.s.name, "retry", 1);
    return "retry";
  }
}
