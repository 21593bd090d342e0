/**
 * A service at run time: its members (configured + registered instances, each bound to the shared
 * per-URL state), its balancer, its retry budget and its metric cells. The member list is replaced,
 * never mutated, when registrations change, so a pick in progress sees a consistent list.
 */
import { Bulkhead } from "../../src/lib/resilience";
import type { SharedPool } from "../../src/core/shared-pool";
import { createBalancer, type Balancer, type Member } from "./proxy/balancers";
import { RetryBudget, type RetryBudgetPolicy } from "./proxy/retry-budget";
import { upstreamState } from "./upstream-state";
import type { Registration } from "./instance-registry";
import type { ServiceSettings } from "./schema";
import type { GatewayMetrics } from "./metrics";
import type { CounterCell, HistogramCell } from "../../src/core/metric-cells";

export interface ServiceRuntime {
  readonly name: string;
  readonly settings: ServiceSettings;
  members: readonly Member[];
  registered: readonly Registration[];
  readonly balancer: Balancer;
  readonly budget: RetryBudget;
  readonly latency: HistogramCell;
  readonly retriesSent: CounterCell;
  readonly retriesDenied: CounterCell;
  readonly ejections: CounterCell;
  /** Concurrency limit (config `bulkhead`), fresh per provision: calls in flight leave the one they entered. */
  readonly bulkhead?: Bulkhead;
  /** Added at run time (POST /services), not from config.yaml. */
  runtime?: boolean;
  /** TLS options source for https instances (edge upstream TLS), set at provision when configured. */
  tlsSource?: { get(): object };
  /** Panic routing's turn among all members (proxy-core pick). */
  panicNext: number;
}

/** Trim a trailing slash so "http://a:1/" and "http://a:1" are one instance. */
export function normaliseUrl(url: string): string {
  return url.endsWith("/") ? url.slice(0, -1) : url;
}

export function createServiceRuntime(settings: ServiceSettings, shared: SharedPool, budgetPolicy: RetryBudgetPolicy, metrics: GatewayMetrics): ServiceRuntime {
  const svc: ServiceRuntime = {
    name: settings.name,
    settings,
    members: [],
    registered: [],
    balancer: createBalancer(settings.load_balancing),
    budget: new RetryBudget(budgetPolicy),
    latency: metrics.latency.cell({ service: settings.name }),
    retriesSent: metrics.retries.cell({ service: settings.name, outcome: "sent" }),
    retriesDenied: metrics.retries.cell({ service: settings.name, outcome: "budget_exhausted" }),
    ejections: metrics.ejections.cell({ service: settings.name }),
    bulkhead: settings.bulkhead ? new Bulkhead(settings.name, settings.bulkhead.max_concurrent, settings.bulkhead.max_queue, settings.bulkhead.queue_timeout) : undefined,
    panicNext: 0,
  };
  setRegistered(svc, [], shared);
  return svc;
}

/** Rebuild the member list from config + registrations. Returns true when the URL set or weights changed. */
export function setRegistered(svc: ServiceRuntime, registered: readonly Registration[], shared: SharedPool): boolean {
  const byUrl = new Map<string, number>();
  for (const i of svc.settings.instances) byUrl.set(normaliseUrl(i.url), i.weight);
  // A registration of a configured URL refreshes nothing but may change its weight.
  for (const r of registered) byUrl.set(normaliseUrl(r.url), r.weight);
  svc.registered = registered;
  const old = svc.members;
  const same = old.length === byUrl.size && old.every((m) => byUrl.get(m.url) === m.weight);
  if (same && old.length > 0) return false;
  const previous = new Map(old.map((m) => [m.url, m]));
  const members: Member[] = [];
  for (const [url, weight] of byUrl) {
    const prev = previous.get(url);
    members.push(prev && prev.weight === weight ? prev : { url, weight, state: upstreamState(shared, url), currentWeight: 0 });
  }
  svc.members = members;
  return !same;
}
