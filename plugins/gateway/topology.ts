/**
 * The live call graph of the gateway's traffic (issue 18): caller → route → service → instance, with per
 * edge request rate, error ratio and p50/p99 latency over a sliding window (default 60 s, 1 s buckets).
 * GET /topology answers it as JSON; GET /topology/view draws it (topology-page.ts).
 *
 * Fed from ProxyCore.account (every answered request, once): the caller is the client address (the edge's
 * token subject is not known at that point). Cost per request: three Map lookups and a few array increments;
 * a bounded number of edges (MAX_EDGES): when full, edges idle for a whole window are dropped, and if none
 * is, new edges are counted under caller "other".
 */
const BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Infinity]; // ms upper bounds
const MAX_EDGES = 2000;

interface Second { at: number; requests: number; errors: number; hist: Uint32Array }

class Edge {
  readonly seconds: Second[];
  total = 0;
  totalErrors = 0;
  constructor(readonly caller: string, readonly route: string, readonly service: string, readonly instance: string, windowS: number) {
    this.seconds = Array.from({ length: windowS }, () => ({ at: -1, requests: 0, errors: 0, hist: new Uint32Array(BUCKETS.length) }));
  }
  add(nowS: number, error: boolean, ms: number): void {
    const s = this.seconds[nowS % this.seconds.length];
    if (s.at !== nowS) { s.at = nowS; s.requests = 0; s.errors = 0; s.hist.fill(0); }
    s.requests++;
    this.total++;
    if (error) { s.errors++; this.totalErrors++; }
    let i = 0;
    while (ms > BUCKETS[i]) i++;
    s.hist[i]++;
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
      if (e.seconds.every((s) => s.at < 0 || nowS - s.at >= this.windowS)) { byCaller.delete(caller); dropped++; }
    }
    this.count -= dropped;
    return dropped;
  }

  /** Every edge with traffic in the window (or ever, with `all`), and the nodes they connect. */
  snapshot(now = Date.now(), all = false) {
    const nowS = Math.floor(now / 1000);
    const out: TopologyEdge[] = [];
    for (const byInstance of this.edges.values()) for (const byCaller of byInstance.values()) for (const e of byCaller.values()) {
      let requests = 0, errors = 0;
      const hist = new Array<number>(BUCKETS.length).fill(0);
      for (const s of e.seconds) {
        if (s.at < 0 || nowS - s.at >= this.windowS) continue;
        requests += s.requests; errors += s.errors;
        for (let i = 0; i < hist.length; i++) hist[i] += s.hist[i];
      }
      if (requests === 0 && !all) continue;
      out.push({
        caller: e.caller, route: e.route, service: e.service, instance: e.instance,
        requests, errors, rps: Math.round((requests / this.windowS) * 1000) / 1000, error_ratio: requests ? Math.round((errors / requests) * 10000) / 10000 : 0,
        p50_ms: quantile(hist, 0.5), p99_ms: quantile(hist, 0.99), total_requests: e.total, total_errors: e.totalErrors,
      });
    }
    const nodes = (kind: string, key: keyof TopologyEdge) => [...new Set(out.map((e) => String(e[key])))].sort().map((id) => ({ kind, id }));
    return { window_s: this.windowS, generated_at: new Date(now).toISOString(), breakers: Object.fromEntries(this.breakers), nodes: [...nodes("caller", "caller"), ...nodes("route", "route"), ...nodes("service", "service"), ...nodes("instance", "instance")], edges: out };
  }
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
