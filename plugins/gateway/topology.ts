/**
 * The live call graph of the gateway's traffic (issue 18): caller → route → service → instance, with per
 * edge request rate, error ratio and p50/p99 latency over a sliding window (default 60 s, 1 s buckets).
 * GET /topology answers it as JSON; GET /topology/view draws it (topology-page.ts).
 *
 * With several gateway processes on one Redis, GET /topology merges every process's edges (topology-share.ts).
 *
 * Fed from the account stage (proxy/account.ts, every answered request, once): the caller is the client
 * certificate's SPIFFE ID, else the token subject, else the client address. Cost per request: three Map
 * lookups and a few typed-array increments;
 * a bounded number of edges (MAX_EDGES): when full, edges idle for a whole window are dropped, and if none
 * is, new edges are counted under caller "other".
 */
import { TopologyShare, type TopologyStore } from "./topology-share";

const BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Infinity]; // ms upper bounds
const MAX_EDGES = 2000;

/** Per second of the window, in one array per edge: requests, errors, then the latency histogram (BUCKETS). */
const STRIDE = 2 + BUCKETS.length;

/**
 * One caller → route → instance edge. Its window is two typed arrays (the second each slot holds, and
 * the slots' counts), not an object and an array per second: at MAX_EDGES that is 4,000 objects for
 * the collector to trace instead of 240,000, and one request's counts sit together in memory.
 */
class Edge {
  /** The epoch second each slot counts (-1: never used). */
  readonly at: Float64Array;
  readonly counts: Uint32Array;
  total = 0;
  totalErrors = 0;
  constructor(readonly caller: string, readonly route: string, readonly service: string, readonly instance: string, readonly windowS: number) {
    this.at = new Float64Array(windowS).fill(-1);
    this.counts = new Uint32Array(windowS * STRIDE);
  }
  add(nowS: number, error: boolean, ms: number): void {
    const slot = nowS % this.windowS;
    const c = this.counts;
    const base = slot * STRIDE;
    if (this.at[slot] !== nowS) { this.at[slot] = nowS; c.fill(0, base, base + STRIDE); }
    c[base]++;
    this.total++;
    if (error) { c[base + 1]++; this.totalErrors++; }
    let i = 0;
    while (ms > BUCKETS[i]) i++;
    c[base + 2 + i]++;
  }
  /** No request in the window ending at `nowS`. */
  idle(nowS: number): boolean {
    for (let k = 0; k < this.windowS; k++) { const at = this.at[k]; if (at >= 0 && nowS - at < this.windowS) return false; }
    return true;
  }
}

export interface TopologyEdge {
  caller: string; route: string; service: string; instance: string;
  requests: number; errors: number; rps: number; error_ratio: number; p50_ms: number | null; p99_ms: number | null;
  total_requests: number; total_errors: number;
}

export class Topology {
  /** route id → instance → caller → edge: no key string built per request. */
  private readonly edges = new Map<string, Map<string, Map<string, Edge>>>();
  private count = 0;
  /** Breaker state per service, from the bus's breaker.transition notices (absent: closed). */
  readonly breakers = new Map<string, string>();
  constructor(readonly windowS = 60) {}

  record(caller: string, route: string, service: string, instance: string, status: number, ms: number, now = Date.now()): void {
    let byInstance = this.edges.get(route);
    if (!byInstance) this.edges.set(route, (byInstance = new Map()));
    let byCaller = byInstance.get(instance);
    if (!byCaller) byInstance.set(instance, (byCaller = new Map()));
    let e = byCaller.get(caller);
    if (!e) {
      if (this.count >= MAX_EDGES && this.sweep(Math.floor(now / 1000)) === 0) { caller = "other"; e = byCaller.get(caller); }
      if (!e) { byCaller.set(caller, (e = new Edge(caller, route, service, instance, this.windowS))); this.count++; }
    }
    e.add(Math.floor(now / 1000), status >= 500 || status === 0, ms);
  }

  /** Drop the edges with no traffic in the window; returns how many went. */
  private sweep(nowS: number): number {
    let dropped = 0;
    for (const byInstance of this.edges.values()) for (const byCaller of byInstance.values()) for (const [caller, e] of byCaller) {
      if (e.idle(nowS)) { byCaller.delete(caller); dropped++; }
    }
    this.count -= dropped;
    return dropped;
  }

  /** Each edge's counts over the window (with `all`, also edges idle in it): what a process shares (topology-share.ts). */
  windowed(now = Date.now(), all = false): EdgeCounts[] {
    const nowS = Math.floor(now / 1000);
    const out: EdgeCounts[] = [];
    for (const byInstance of this.edges.values()) for (const byCaller of byInstance.values()) for (const e of byCaller.values()) {
      let requests = 0, errors = 0;
      const hist = new Array<number>(BUCKETS.length).fill(0);
      for (let k = 0; k < e.windowS; k++) {
        const at = e.at[k];
        if (at < 0 || nowS - at >= this.windowS) continue;
        const base = k * STRIDE;
        requests += e.counts[base]; errors += e.counts[base + 1];
        for (let i = 0; i < hist.length; i++) hist[i] += e.counts[base + 2 + i];
      }
      if (requests === 0 && !all) continue;
      out.push({ caller: e.caller, route: e.route, service: e.service, instance: e.instance, requests, errors, hist, total: e.total, total_errors: e.totalErrors });
    }
    return out;
  }

  /** Every edge with traffic in the window (or ever, with `all`), and the nodes they connect: this process's. */
  snapshot(now = Date.now(), all = false): TopologyJson {
    return topologyView(this.windowS, this.breakers, this.windowed(now, all), now);
  }

  /** Share this process's edges through `store` and merge the others' into GET /topology (topology-share.ts). */
  shareVia(store: TopologyStore | undefined): TopologyShare {
    this.sharing ??= new TopologyShare(this);
    this.sharing.use(store);
    return this.sharing;
  }
  private sharing: TopologyShare | undefined;

  /** Host shutdown (the shared pool closes its entries): stop sharing, and take this process's edges out of the store. */
  async close(): Promise<void> { await this.sharing?.close(); }

  /** GET /topology: the whole platform's graph when shared (several gateway processes on one Redis), else this process's. */
  merged(now = Date.now()): Promise<TopologyJson> {
    return this.sharing?.merged(now) ?? Promise.resolve(this.snapshot(now));
  }
}

/** One edge's windowed counts: latency as bucket counts (BUCKETS), so counts from several processes add up. */
export interface EdgeCounts {
  caller: string; route: string; service: string; instance: string;
  requests: number; errors: number; hist: number[]; total: number; total_errors: number;
}

/** The JSON of GET /topology from edge counts (one process's, or several merged). */
export interface TopologyJson {
  window_s: number;
  generated_at: string;
  breakers: Record<string, string>;
  /** Several gateway processes: "redis" (merged), "unavailable" (Redis away: this process's only). */
  shared?: "redis" | "unavailable";
  /** The processes merged: id (host:pid:…), their edge count and the age of their counts. */
  sources?: { id: string; edges: number; age_ms?: number }[];
  nodes: { kind: string; id: string }[];
  edges: TopologyEdge[];
}

export function topologyView(windowS: number, breakers: ReadonlyMap<string, string>, counts: readonly EdgeCounts[], now: number, extra: Pick<TopologyJson, "shared" | "sources"> = {}): TopologyJson {
  const out: TopologyEdge[] = counts.map((c) => ({
    caller: c.caller, route: c.route, service: c.service, instance: c.instance,
    requests: c.requests, errors: c.errors, rps: Math.round((c.requests / windowS) * 1000) / 1000, error_ratio: c.requests ? Math.round((c.errors / c.requests) * 10000) / 10000 : 0,
    p50_ms: quantile(c.hist, 0.5), p99_ms: quantile(c.hist, 0.99), total_requests: c.total, total_errors: c.total_errors,
  }));
  const nodes = (kind: string, key: keyof TopologyEdge) => [...new Set(out.map((e) => String(e[key])))].sort().map((id) => ({ kind, id }));
  return { window_s: windowS, generated_at: new Date(now).toISOString(), breakers: Object.fromEntries(breakers), ...extra, nodes: [...nodes("caller", "caller"), ...nodes("route", "route"), ...nodes("service", "service"), ...nodes("instance", "instance")], edges: out };
}

/** Upper bound of the bucket holding the q-quantile (ms); null without samples. */
function quantile(hist: number[], q: number): number | null {
  const n = hist.reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i];
    if (acc >= q * n) return Number.isFinite(BUCKETS[i]) ? BUCKETS[i] : BUCKETS[BUCKETS.length - 2];
  }
  return null;
}
