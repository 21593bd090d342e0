/**
 * Load-balancing algorithms as pure modules over a member list. Each skips members that are not
 * available (down or ejected) and an optional `exclude` (the instance a retry must avoid), and
 * returns undefined when nothing is left. No allocation per pick.
 */
import { isAvailable, type UpstreamState } from "../upstream-state";
import type { BalancerName } from "../schema";

export interface Member {
  readonly url: string;
  readonly weight: number;
  readonly state: UpstreamState;
  /** Smooth weighted round robin's running weight (per member list; reset with it). */
  currentWeight: number;
}

export interface Balancer {
  pick(members: readonly Member[], now: number, exclude?: Member): Member | undefined;
}

function usable(m: Member, now: number, exclude: Member | undefined): boolean {
  return m !== exclude && isAvailable(m.state, now);
}

/** Each available member in turn. */
export function roundRobin(): Balancer {
  let next = 0;
  return {
    pick(members, now, exclude) {
      const n = members.length;
      for (let k = 0; k < n; k++) {
        const m = members[(next + k) % n];
        if (usable(m, now, exclude)) { next = (next + k + 1) % n; return m; }
      }
      return undefined;
    },
  };
}

/** Fewest requests in flight; ties broken by rotating the scan start so equals share the load. */
export function leastConnections(): Balancer {
  let start = 0;
  return {
    pick(members, now, exclude) {
      const n = members.length;
      let best: Member | undefined;
      for (let k = 0; k < n; k++) {
        const m = members[(start + k) % n];
        if (!usable(m, now, exclude)) continue;
        if (best === undefined || m.state.active < best.state.active) best = m;
      }
      start = n > 0 ? (start + 1) % n : 0;
      return best;
    },
  };
}

/**
 * Smooth weighted round robin (nginx): every pick adds each member's weight to its running weight,
 * takes the largest, and subtracts the total from it. Weights 5,1,1 give a,a,b,a,c,a,a — spread, not bursts.
 */
export function smoothWeighted(): Balancer {
  return {
    pick(members, now, exclude) {
      let total = 0;
      let best: Member | undefined;
      for (let k = 0; k < members.length; k++) {
        const m = members[k];
        if (!usable(m, now, exclude)) continue;
        m.currentWeight += m.weight;
        total += m.weight;
        if (best === undefined || m.currentWeight > best.currentWeight) best = m;
      }
      if (best) best.currentWeight -= total;
      return best;
    },
  };
}

/**
 * Power of two choices on a latency EWMA (Envoy/Linkerd): sample two distinct available members and
 * take the one with the lower cost = EWMA × (in-flight + 1). An instance never measured costs 0, so it
 * gets probed. `random` is injectable for tests.
 */
export function p2cEwma(random: () => number = Math.random): Balancer {
  const cost = (m: Member) => (m.state.ewmaMs || 0) * (m.state.active + 1) + m.state.active * 1e-6;
  return {
    pick(members, now, exclude) {
      const n = members.length;
      if (n === 0) return undefined;
      // Two random probes; fall back to a scan when they land on unusable members.
      let a: Member | undefined;
      let b: Member | undefined;
      for (let tries = 0; tries < 4 && (a === undefined || b === undefined); tries++) {
        const m = members[Math.floor(random() * n)];
        if (!usable(m, now, exclude)) continue;
        if (a === undefined) a = m; else if (m !== a) b = m;
      }
      if (a === undefined || b === undefined) {
        for (let k = 0; k < n; k++) {
          const m = members[k];
          if (!usable(m, now, exclude) || m === a) continue;
          if (a === undefined) a = m; else { b = m; break; }
        }
      }
      if (a === undefined) return undefined;
      if (b === undefined) return a;
      return cost(b) < cost(a) ? b : a;
    },
  };
}

export function createBalancer(name: BalancerName): Balancer {
  switch (name) {
    case "round_robin": return roundRobin();
    case "least_connections": return leastConnections();
    case "weighted": return smoothWeighted();
    case "p2c_ewma": return p2cEwma();
  }
}
