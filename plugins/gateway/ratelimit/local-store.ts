/**
 * In-process GCRA counters: one Map (key → TAT) per policy signature, kept in the shared pool so a
 * reload that leaves a policy unchanged keeps its counters, and a changed policy starts fresh.
 */
import type { SharedPool } from "../../../src/core/shared-pool";
import { gcraDecide, type GcraPolicy, type RateDecision } from "./gcra";

export class LocalRateStore {
  constructor(private readonly shared: SharedPool, private readonly maxKeys: number) {}

  private mapFor(p: GcraPolicy): Map<string, number> {
    return this.shared.getOrCreate(`gateway:edge:rl:${p.signature}`, () => new Map<string, number>());
  }

  /** Resolve the Map once per policy at provision time, then call `decideIn` on the hot path. */
  counters(p: GcraPolicy): Map<string, number> {
    return this.mapFor(p);
  }

  decideIn(map: Map<string, number>, p: GcraPolicy, key: string, now: number): RateDecision {
    const { decision, tat } = gcraDecide(p, map.get(key), now);
    if (decision.allowed) {
      if (map.size >= this.maxKeys && !map.has(key)) this.sweep(map, now);
      map.set(key, tat);
    }
    return decision;
  }

  decide(p: GcraPolicy, key: string, now: number = Date.now()): RateDecision {
    return this.decideIn(this.mapFor(p), p, key, now);
  }

  /** Drop keys whose TAT has passed (they are equivalent to absent); if none, the oldest tenth. */
  private sweep(map: Map<string, number>, now: number): void {
    for (const [k, tat] of map) if (tat <= now) map.delete(k);
    if (map.size < this.maxKeys) return;
    let drop = Math.ceil(this.maxKeys / 10);
    for (const k of map.keys()) {
      if (drop-- <= 0) break;
      map.delete(k);
    }
  }
}
