/**
 * Stage 5 of the walk, the attempt loop — one driver for every lane: pick an instance (balancer,
 * panic routing), send an attempt through the lane's transport, record its outcome (EWMA, outlier
 * ejection, latency), and retry on another instance while the route allows it, the request's
 * deadline is not reached and the service's retry budget has room (full-jitter backoff between
 * tries). The permit is settled once, here, however the request ends.
 */
import { fullJitterBackoff } from "../../../src/lib/resilience";
import { turnEpochNow, turnMonoNow } from "../../../src/lib/turn-queue";
import type { Permit } from "../../../src/contracts/bus-topics";
import type { UpstreamErrorKind } from "../transport/upstream-client";
import { ejectionAllowed, observeLatency, recordOutcome } from "../upstream-state";
import type { Member } from "./balancers";
import type { CompiledRoute } from "./compiled-route";
import { settle } from "./admit";
import { failureRefusal, noInstanceRefusal } from "./refusal";
import type { Call, ProxyCore, Refusal } from "./pipeline";

export const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/** An upstream answer that may be thrown away (a retried attempt). */
export interface Discardable { discard(): void }

/** How a lane sends one attempt and hands the answer back; the driver calls these, in this order. */
export interface AttemptLane<A extends Discardable> {
  /** Send an attempt to `member`, its response head due by `deadline` (epoch ms), started at `now` (epoch ms, read once by the driver); report with driver.result(). */
  send(member: Member, deadline: number, now: number): void;
  /** The upstream's answer goes to the client (the permit is settled already). */
  answer(answer: A, status: number, member: Member, attempts: number): void;
  /** The gateway answers itself: no instance left, an attempt's failure, a full bulkhead. */
  refuse(r: Refusal, member: Member | undefined, attempts: number | undefined): void;
  /** Whether the request can still be sent again (a streamed body may have gone out already); absent: yes. */
  replayable?(): boolean;
}

/** Retries are allowed at all: the route has them, and the method (or the route) says a repeat is safe. */
export function mayRetry(route: CompiledRoute, method: string): boolean {
  return route.retryAttempts > 0 && (IDEMPOTENT.has(method) || route.retryNonIdempotent);
}

/** The instance for the next attempt: another than `exclude` when there is one. */
function pick(route: CompiledRoute, now: number, exclude: Member | undefined): Member | undefined {
  const svc = route.svc;
  const m = svc.balancer.pick(svc.members, now, exclude) ?? (exclude ? svc.balancer.pick(svc.members, now) : undefined);
  if (m !== undefined || !svc.settings.health_check.panic || svc.members.length === 0) return m;
  // Panic routing (Envoy's, at 0 % available): every instance marked down or ejected at once is more often
  // a false alarm of ours (a stall that timed every check out) than a service gone. Try them in turn, not
  // the one just tried; if they really are down the attempts fail fast and the breaker opens.
  const n = svc.members.length;
  let i = svc.panicNext++ % n;
  if (n > 1 && svc.members[i] === exclude) i = svc.panicNext++ % n;
  return svc.members[i];
}

/**
 * One attempt is over: feed the instance's EWMA and outlier detector and the latency histogram.
 * What the client did (went away, its body broke or stalled, it sent too much) tells nothing about
 * the upstream: no EWMA, no outlier count, no latency sample.
 */
function recordAttempt(core: ProxyCore, call: Call, route: CompiledRoute, member: Member, latencyMs: number, doneAt: number, status: number, err: UpstreamErrorKind | undefined): void {
  const svc = route.svc;
  if (err === "client" || err === "body-limit") return;
  const state = member.state;
  observeLatency(state, latencyMs, doneAt);
  const failed = err !== undefined || status >= 500;
  if (recordOutcome(state, failed, svc.settings.outlier, doneAt, failed ? ejectionCap(route, doneAt) : undefined)) {
    svc.ejections.value++;
    // Often in the upstream socket's callback, outside the request's context: name the request that tipped it.
    core.o.log.warn("instance ejected", { service: svc.name, instance: member.url, until: new Date(state.ejectedUntil).toISOString(), reason: err ?? `status ${status}`, request_id: call.requestId, trace_id: call.ctx?.trace() });
  }
  if (err === undefined) core.o.latency.observe(svc.latency, latencyMs / 1000);
}

/** Whether the service may eject one more instance at `now`: made only on a failure (no closure per successful request). */
function ejectionCap(route: CompiledRoute, now: number): () => boolean {
  const svc = route.svc;
  return () => ejectionAllowed(svc.members, svc.settings.outlier.max_ejection_percent, now);
}

/** Whether this attempt's outcome may be retried (the budget is asked separately). */
function retryableOutcome(route: CompiledRoute, attempt: number, doneAt: number, deadline: number, status: number, err: UpstreamErrorKind | undefined): boolean {
  if (attempt >= route.retryAttempts || doneAt >= deadline) return false;
  // A try cut off by per_try_timeout (the request's deadline not reached) is the instance's slowness: try another.
  if (err === "timeout") return route.perTryTimeoutMs > 0;
  return err !== undefined ? err === "connect" || err === "reset" : route.retryStatuses.has(status);
}

export class AttemptDriver<A extends Discardable> {
  private attempt = 0;
  private exclude: Member | undefined;
  private member: Member | undefined;
  private started = 0;
  private now = 0;
  private readonly now0: number;
  private readonly requestId: string;
  /** One deadline for the whole exchange (all attempts) up to the response head. */
  private readonly deadline: number;
  private gone = false;
  private ended = false;
  /** How the request ended, for its permit: the last attempt's result, "unsent" until one is made. */
  private lastStatus = 0;
  private lastLatencyMs = 0;
  private lastErr: UpstreamErrorKind | "unsent" | undefined = "unsent";
  /** Run once when the request is over (a bulkhead slot's leave). */
  release: (() => void) | undefined;

  constructor(
    private readonly core: ProxyCore,
    private readonly route: CompiledRoute,
    private readonly call: Call,
    private readonly permit: Permit,
    /** mayRetry() and the request can be sent again (its body is not a stream already consumed). */
    private readonly retryable: boolean,
    private readonly lane: AttemptLane<A>,
  ) {
    this.requestId = call.requestId;
    this.now0 = turnEpochNow();
    route.svc.budget.recordRequest(this.now0);
    this.deadline = this.now0 + route.timeoutMs;
  }

  /** The request is over: its permit settled (and its bulkhead slot freed), once. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.release?.();
    settle(this.permit, this.lastStatus, this.lastLatencyMs, this.lastErr);
  }

  /** Start (or retry) an attempt on the next instance; a throw ends the request (settled, then rethrown). */
  go(): void {
    try {
      this.attemptNext();
    } catch (e) {
      this.end();
      throw e;
    }
  }

  /** Refused before any attempt (a full bulkhead): settled as "unsent". */
  refuse(r: Refusal): void {
    this.end();
    this.lane.refuse(r, undefined, undefined);
  }

  /** The client went away: a late answer is thrown away and nothing is written (the lane abandons the attempt). */
  clientGone(): void { this.gone = true; }

  private attemptNext(): void {
    if (this.gone) { this.end(); return; } // left during a retry's backoff
    const route = this.route;
    const now = this.attempt === 0 ? this.now0 : turnEpochNow();
    const member = pick(route, now, this.exclude);
    this.core.trace?.instance(this.requestId, route, this.attempt, member, this.exclude, this.lastStatus, this.lastErr);
    if (member === undefined) { this.end(); this.lane.refuse(noInstanceRefusal(route), undefined, this.attempt + 1); return; }
    this.member = member;
    this.now = now;
    member.state.active++;
    this.started = turnMonoNow();
    // When this attempt must have its response head: the request's deadline, or sooner with per_try_timeout.
    this.lane.send(member, route.perTryTimeoutMs > 0 ? Math.min(this.deadline, now + route.perTryTimeoutMs) : this.deadline, now);
  }

  /** go() after a backoff: its own method, so result()'s every call makes no closure scope. */
  private goAfter(delayMs: number): void { setTimeout(() => this.go(), delayMs); }

  /** The attempt in flight is over: `status` (0 with `err` when no response came) and the answer to relay or discard. */
  result(status: number, err: UpstreamErrorKind | undefined, answer: A | undefined): void {
    const route = this.route;
    const member = this.member!;
    member.state.active--;
    const endedAt = turnMonoNow(); // the response head's turn: when it came
    this.call.endedAt = endedAt;
    const latencyMs = endedAt - this.started;
    const doneAt = this.now + latencyMs;
    recordAttempt(this.core, this.call, route, member, latencyMs, doneAt, status, err);
    this.lastStatus = status;
    this.lastLatencyMs = latencyMs;
    this.lastErr = err;
    if (this.gone) { if (err === undefined) answer?.discard(); this.end(); return; }
    if (this.retryable && (this.lane.replayable?.() ?? true) && retryableOutcome(route, this.attempt, doneAt, this.deadline, status, err) && this.tryRetry(doneAt)) {
      if (err === undefined) answer?.discard();
      const delay = fullJitterBackoff(this.attempt, route.backoffBaseMs, route.backoffCapMs);
      this.attempt++;
      this.exclude = member;
      if (delay > 0) this.goAfter(delay);
      else this.go();
      return;
    }
    this.end();
    if (err !== undefined) this.lane.refuse(failureRefusal(this.core, route, err), member, this.attempt + 1);
    else this.lane.answer(answer!, status, member, this.attempt + 1);
  }

  /** Ask the retry budget; counts the retry or its denial. */
  private tryRetry(now: number): boolean {
    const svc = this.route.svc;
    const ok = svc.budget.tryRetry(now);
    if (ok) svc.retriesSent.value++;
    else svc.retriesDenied.value++;
    this.core.trace?.retry(this.requestId, this.route, ok);
    return ok;
  }
}
