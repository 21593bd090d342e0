/**
 * "breaker.permit" for a process that hosts no breaker plugin (a split platform: `--only gateway`): a
 * mirror of the breakers' states, kept current by their "breaker.transition" notices (which the bridge
 * brings from the breaker's process), answers at once — the hot path never waits on Redis. Each settled
 * permit becomes an "upstream.outcome" the bridge carries to the breaker, which decides the transitions.
 *
 * The approximation, stated: while a breaker is half-open here every call is let through (the breaker
 * process limits its own trials, not ours), so a split gateway may send a few more trial calls than
 * half_open_max_calls before the breaker's verdict comes back.
 */
import type { Bus } from "../../core/bus";
import type { BreakerTransition, Permit, PermitDecision, UpstreamOutcomeError } from "../../contracts/bus-topics";

interface Mirrored { state: string; retryAt: number }

/** States in which a breaker refuses calls (plugins/breaker state names; the contract is the transition's `to`). */
const REFUSING = new Set(["open", "forced_open"]);

export class PermitMirror {
  private readonly states = new Map<string, Mirrored>();
  private readonly offs: (() => void)[] = [];

  constructor(private readonly bus: Bus, private readonly now: () => number = Date.now) {}

  start(): void {
    this.offs.push(this.bus.on("breaker.transition", (t) => this.apply(t)));
    this.offs.push(this.bus.provideFallback("breaker.permit", this.permit));
  }

  stop(): void { for (const off of this.offs.splice(0)) off(); }

  apply(t: BreakerTransition): void {
    if (REFUSING.has(t.to)) this.states.set(t.name, { state: t.to, retryAt: t.retryAt ?? Number.POSITIVE_INFINITY });
    else this.states.delete(t.name);
  }

  /** What this process believes of each refusing breaker (health, tests). */
  snapshot(): Record<string, Mirrored> { return Object.fromEntries(this.states); }

  readonly permit = (service: string): PermitDecision => {
    const m = this.states.get(service);
    if (m !== undefined) {
      const wait = m.retryAt - this.now();
      if (m.state === "forced_open" || wait > 0) return { allowed: false, retryAfterMs: Number.isFinite(wait) ? Math.max(0, wait) : 60_000, state: m.state };
    }
    return this.reporting(service);
  };

  /** A permit whose settle reports the request's outcome on the bus (and so, through the bridge, to the breaker). */
  private reporting(service: string): Permit {
    let settled = false;
    const bus = this.bus;
    return {
      allowed: true,
      settle(status: number, latencyMs: number, error?: UpstreamOutcomeError) {
        if (settled) return;
        settled = true;
        bus.emit("upstream.outcome", error === undefined ? { service, status, latencyMs } : { service, status, latencyMs, error });
      },
    };
  }
}
