/**
 * One breaker per upstream, by name. Lives in ctx.shared so windows and states survive a config
 * reload; each new plugin instance re-points `listener` and pushes new thresholds with `configure`.
 * The permit and record paths are the gateway's hot path: no allocation when a call is allowed.
 */
import { UNGUARDED, type PermitDecision, type UpstreamOutcome, type UpstreamOutcomeError } from "../../src/contracts/bus-topics";
import { BreakerPermit, permitLedger, type PermitHolder as PermitHolderEntry, type PermitSink } from "./permit";
import {
  BreakerStateMachine, CLOSED, DISABLED, FAILURE, FORCED_OPEN, HALF_OPEN, IGNORED, OPEN, STATE_NAMES,
  type Outcome, type StateCode, type StateName,
} from "./state-machine";
import type { BreakerPolicy } from "./policy";
import { createClassifier, DEFAULT_FAILURE_POLICY, type Classifier } from "./classify";

export interface TransitionRecord {
  from: StateName;
  to: StateName;
  reason: string;
  at: number;
  /** Where the decision was made: this instance's traffic, an operator, or another instance (cluster). */
  origin: "traffic" | "operator" | "remote";
}

/** What a breaker knows beyond its state machine: counters, recent transitions, where it came from. */
export class BreakerEntry {
  readonly history: TransitionRecord[] = [];
  /** Times of HALF_OPEN → OPEN re-trips (flapping detection). */
  readonly reopenTimes: number[] = [];
  successes = 0;
  failures = 0;
  ignored = 0;
  rejected = 0;
  /** Permits granted and not yet settled (see permit.ts). */
  outstanding = 0;
  /** How many of `rejected` the metrics counter already holds (synced at scrape; survives reloads). */
  rejectedExported = 0;
  createdAt: number;
  constructor(readonly machine: BreakerStateMachine, public source: "gateway" | "caller" | "config", public instances: string[] = []) {
    this.createdAt = Date.now();
  }
  get name(): string { return this.machine.name; }
  get stateName(): StateName { return STATE_NAMES[this.machine.state]; }
}

export type RegistryListener = (entry: BreakerEntry, record: TransitionRecord) => void;
/** Called once per recorded outcome (metrics), after the machine has seen it. */
export type OutcomeListener = (entry: BreakerEntry, outcome: Outcome) => void;

export class BreakerRegistry implements PermitSink {
  readonly entries = new Map<string, BreakerEntry>();
  /** Identity of this process in cluster messages (stable across reloads). */
  readonly instanceId = crypto.randomUUID();
  listener: RegistryListener | undefined;
  onOutcome: OutcomeListener | undefined;
  onCreate: ((entry: BreakerEntry) => void) | undefined;
  private policyOf: (name: string) => BreakerPolicy;
  private classify: Classifier = createClassifier(DEFAULT_FAILURE_POLICY);
  private historySize = 20;
  /** Breakers made by name (not configured or announced) stop here: a caller inventing names cannot grow memory without bound. */
  maxBreakers = 1000;
  /** Called once per name refused because of `maxBreakers`. */
  onLimit: ((name: string) => void) | undefined;
  private readonly refusedNames = new Set<string>();
  /** Set while applying a remote or operator decision so the listener can tell them apart. */
  private origin: TransitionRecord["origin"] = "traffic";

  constructor(policyOf: (name: string) => BreakerPolicy, readonly now: () => number = Date.now) {
    this.policyOf = policyOf;
    permitLedger.registries.add(new WeakRef(this));
  }

  /** New thresholds for every breaker (and for those created later). State is kept. */
  configure(policyOf: (name: string) => BreakerPolicy, classify: Classifier, historySize: number, maxBreakers = this.maxBreakers): void {
    this.policyOf = policyOf;
    this.classify = classify;
    this.historySize = historySize;
    this.maxBreakers = maxBreakers;
    this.refusedNames.clear();
    for (const e of this.entries.values()) e.machine.updatePolicy(policyOf(e.name));
  }

  getOrCreate(name: string, source: BreakerEntry["source"] = "caller"): BreakerEntry {
    let entry = this.entries.get(name);
    if (entry) return entry;
    const machine = new BreakerStateMachine(name, this.policyOf(name), this.now, this.onMachineTransition);
    entry = new BreakerEntry(machine, source);
    this.entries.set(name, entry);
    this.onCreate?.(entry);
    return entry;
  }

  /** getOrCreate for names that arrive on the hot path; undefined once `maxBreakers` exist. */
  private byName(name: string): BreakerEntry | undefined {
    if (this.entries.size >= this.maxBreakers) {
      if (!this.refusedNames.has(name) && this.refusedNames.size < 100) { this.refusedNames.add(name); this.onLimit?.(name); }
      return undefined;
    }
    return this.getOrCreate(name);
  }

  private readonly onMachineTransition = (m: BreakerStateMachine, from: StateCode, to: StateCode, reason: string, at: number) => {
    const entry = this.entries.get(m.name);
    if (!entry) return;
    const record: TransitionRecord = { from: STATE_NAMES[from], to: STATE_NAMES[to], reason, at, origin: this.origin };
    entry.history.push(record);
    if (entry.history.length > this.historySize) entry.history.splice(0, entry.history.length - this.historySize);
    if (from === HALF_OPEN && to === OPEN) {
      entry.reopenTimes.push(at);
      if (entry.reopenTimes.length > 64) entry.reopenTimes.shift();
    }
    this.listener?.(entry, record);
  };

  /** The "breaker.permit" service: a permit to settle once the request is over, or the refusal. */
  readonly permit = (service: string): PermitDecision => {
    const entry = this.entries.get(service) ?? this.byName(service);
    if (entry === undefined) return UNGUARDED; // over the limit: no breaker, no protection, never a refusal
    const m = entry.machine;
    if (m.tryAcquire()) return new BreakerPermit(this, entry, m.epoch);
    entry.rejected++;
    return { allowed: false, retryAfterMs: this.retryAfterMs(entry), state: STATE_NAMES[m.state] };
  };

  retryAfterMs(entry: BreakerEntry): number {
    const m = entry.machine;
    if (m.state === OPEN) return Math.max(0, m.openUntil - this.now());
    if (m.state === FORCED_OPEN) return m.currentPolicy.recoveryTimeoutMs;
    return 1000; // HALF_OPEN with every trial slot taken: ask again shortly
  }

  /**
   * A permit settled: the request's outcome is counted, and moves the machine only in the state epoch
   * the permit was granted in (a call let through while CLOSED is no half-open trial, and a trial of an
   * earlier half-open round no longer holds a slot).
   */
  settle(holder: PermitHolderEntry, epoch: number, status: number, latencyMs: number, error: UpstreamOutcomeError | undefined): void {
    const entry = holder as BreakerEntry;
    const outcome = this.classify.parts(status, error);
    this.count(entry, outcome);
    if (entry.machine.epoch === epoch) entry.machine.record(outcome, latencyMs);
    this.onOutcome?.(entry, outcome);
  }

  /** The "upstream.outcome" consumer: callers that hold no permit object. */
  readonly record = (o: UpstreamOutcome): void => {
    const entry = this.entries.get(o.service) ?? this.byName(o.service);
    if (entry === undefined) return;
    const outcome = this.classify(o);
    this.count(entry, outcome);
    entry.machine.record(outcome, o.latencyMs);
    this.onOutcome?.(entry, outcome);
  };

  private count(entry: BreakerEntry, outcome: Outcome): void {
    if (outcome === FAILURE) entry.failures++;
    else if (outcome === IGNORED) entry.ignored++;
    else entry.successes++;
  }

  /** Time-driven transitions (OPEN → HALF_OPEN) so idle breakers still move. */
  tick(): void {
    for (const e of this.entries.values()) e.machine.tick();
  }

  /** Operator actions and remote decisions, labelled as such in the history. */
  operate(name: string, action: "reset" | "force_open" | "force_close" | "disable", reason?: string): BreakerEntry {
    const entry = this.getOrCreate(name);
    this.withOrigin("operator", () => {
      if (action === "force_open") entry.machine.forceOpen(reason);
      else if (action === "disable") entry.machine.disable(reason);
      else entry.machine.reset(reason ?? (action === "force_close" ? "closed by operator" : undefined));
    });
    return entry;
  }

  applyRemote(name: string, to: StateCode, openUntil: number, reason: string): void {
    if (to < CLOSED || to > DISABLED) return;
    const entry = this.entries.get(name) ?? this.byName(name);
    if (entry === undefined) return;
    this.withOrigin("remote", () => entry.machine.applyRemote(to, openUntil, reason));
  }

  private withOrigin(origin: TransitionRecord["origin"], fn: () => void): void {
    const before = this.origin;
    this.origin = origin;
    try { fn(); } finally { this.origin = before; }
  }
}
