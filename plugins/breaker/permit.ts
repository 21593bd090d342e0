/**
 * The permit a breaker hands out with every allowed call: one small object (no closure), settled once
 * when the whole request is over. The process-wide ledger counts permits not yet settled, so a test can
 * fail when any exit path forgot one (test/support/permits.ts).
 */
import type { Permit, UpstreamOutcomeError } from "../../src/contracts/bus-topics";

/** What a permit reports to: the registry (kept as an interface so this file imports no registry). */
export interface PermitSink {
  settle(entry: PermitHolder, epoch: number, status: number, latencyMs: number, error: UpstreamOutcomeError | undefined): void;
}

/** The per-breaker count of permits still out (BreakerEntry implements it). */
export interface PermitHolder {
  readonly name: string;
  outstanding: number;
}

/** Process-wide: permits granted and not yet settled, and the registries that granted them. */
export const permitLedger = {
  outstanding: 0,
  granted: 0,
  registries: new Set<WeakRef<{ entries: Map<string, PermitHolder> }>>(),
};

export class BreakerPermit implements Permit {
  readonly allowed = true as const;
  private settled = false;

  constructor(private readonly sink: PermitSink, private readonly entry: PermitHolder, private readonly epoch: number) {
    entry.outstanding++;
    permitLedger.outstanding++;
    permitLedger.granted++;
  }

  settle(status: number, latencyMs: number, error?: UpstreamOutcomeError): void {
    if (this.settled) return;
    this.settled = true;
    this.entry.outstanding--;
    permitLedger.outstanding--;
    this.sink.settle(this.entry, this.epoch, status, latencyMs, error);
  }
}

/** Breakers with permits out, by name (for a test's failure message). */
export function outstandingByBreaker(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ref of permitLedger.registries) {
    const r = ref.deref();
    if (r === undefined) { permitLedger.registries.delete(ref); continue; }
    for (const e of r.entries.values()) if (e.outstanding !== 0) out[e.name] = (out[e.name] ?? 0) + e.outstanding;
  }
  return out;
}
