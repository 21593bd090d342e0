/**
 * One call graph for the whole platform when the gateway runs in several processes (host.workers, or
 * split processes and hosts on one Redis): each process publishes its edges' windowed counts every
 * SHARE_INTERVAL_MS to the shared store, and GET /topology adds the others' to its own.
 *
 * The store (registry.ts, cluster mode): one Redis hash `<registration.redis_prefix>topology`, a field per
 * gateway process holding `{ at, edges }`; the key's TTL is renewed by every write (SHARE_TTL_MS), so it
 * vanishes with the last gateway, and a field older than SHARE_TTL_MS (a process that died) is ignored and
 * deleted by the next reader. Bounded: one field per live process, at most MAX_EDGES edges in each.
 * Latency merges exactly: an edge carries its bucket counts, not its quantiles.
 *
 * Without a store (embedded mode) GET /topology is this process's graph, as before. Redis unreachable:
 * this process's graph, with `shared: "unavailable"`.
 */
import { hostname } from "node:os";
import { topologyView, type EdgeCounts, type Topology, type TopologyJson } from "./topology";

export const SHARE_INTERVAL_MS = 2000;
export const SHARE_TTL_MS = 10_000;

/** Where processes leave their edges (registry.ts's Redis store). */
export interface TopologyStore {
  put(id: string, json: string, ttlMs: number): Promise<void>;
  all(): Promise<Map<string, string>>;
  drop(ids: string[]): Promise<void>;
}

interface Shared { at: number; edges: EdgeCounts[] }

/** Sum edge counts that name the same caller → route → service → instance. */
export function mergeCounts(lists: readonly (readonly EdgeCounts[])[]): EdgeCounts[] {
  const byKey = new Map<string, EdgeCounts>();
  for (const list of lists) for (const e of list) {
    const k = `${e.caller}\u0000${e.route}\u0000${e.service}\u0000${e.instance}`;
    const m = byKey.get(k);
    if (m === undefined) { byKey.set(k, { ...e, hist: [...e.hist] }); continue; }
    m.requests += e.requests; m.errors += e.errors; m.total += e.total; m.total_errors += e.total_errors;
    for (let i = 0; i < m.hist.length; i++) m.hist[i] += e.hist[i] ?? 0;
  }
  return [...byKey.values()];
}

function parse(json: string): Shared | undefined {
  try {
    const v = JSON.parse(json) as Shared;
    return typeof v?.at === "number" && Array.isArray(v.edges) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class TopologyShare {
  /** This process, as the others see it. */
  readonly id = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
  private store: TopologyStore | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private publishing = false;

  constructor(private readonly topology: Topology, private readonly intervalMs = SHARE_INTERVAL_MS) {}

  /** Share through `store` from now on (a reload passes the store again); undefined stops sharing. */
  use(store: TopologyStore | undefined): void {
    this.store = store;
    if (store !== undefined && this.timer === undefined) {
      this.timer = setInterval(() => void this.publish(), this.intervalMs);
      (this.timer as { unref?: () => void }).unref?.(); // never keeps the process alive
      void this.publish();
    } else if (store === undefined && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Stop publishing and take this process's field out of the store (host shutdown). */
  async close(): Promise<void> {
    const store = this.store;
    this.use(undefined);
    if (store !== undefined) await store.drop([this.id]).catch(() => undefined);
  }

  /** Leave this process's edges in the store (one write; a failure waits for the next turn). */
  async publish(now = Date.now()): Promise<void> {
    const store = this.store;
    if (store === undefined || this.publishing) return;
    this.publishing = true;
    try {
      await store.put(this.id, JSON.stringify({ at: now, edges: this.topology.windowed(now) } satisfies Shared), SHARE_TTL_MS);
    } catch { /* Redis away: GET /topology says so; the next turn retries */ } finally {
      this.publishing = false;
    }
  }

  /** This process's edges now plus every other live process's last published ones. */
  async merged(now = Date.now()): Promise<TopologyJson> {
    const t = this.topology;
    const local = t.windowed(now);
    const store = this.store;
    if (store === undefined) return topologyView(t.windowS, t.breakers, local, now);
    let all: Map<string, string>;
    try {
      all = await store.all();
    } catch {
      return topologyView(t.windowS, t.breakers, local, now, { shared: "unavailable", sources: [{ id: this.id, edges: local.length }] });
    }
    const lists: EdgeCounts[][] = [local];
    const sources = [{ id: this.id, edges: local.length, age_ms: 0 }];
    const stale: string[] = [];
    for (const [id, json] of all) {
      if (id === this.id) continue;
      const v = parse(json);
      if (v === undefined || now - v.at > SHARE_TTL_MS) { stale.push(id); continue; }
      lists.push(v.edges);
      sources.push({ id, edges: v.edges.length, age_ms: Math.max(0, now - v.at) });
    }
    if (stale.length > 0) void store.drop(stale).catch(() => undefined);
    return topologyView(t.windowS, t.breakers, mergeCounts(lists), now, { shared: "redis", sources });
  }
}
