/**
 * What happens to accepted alerts, in order: numbered and enriched → kept in the raw ring → counted
 * (metrics) → response policies → folded. What happens to an announced group: a notice → the bus
 * (`security.alert` topic and a `security.alert` platform event for the events plugin) → every output lane.
 * All synchronous and bounded: outputs are queues, so intake never waits on them.
 */
import type { Bus } from "../../src/core/bus";
import type { Alert } from "./alert";
import { Deduplicator, type Group, type NoticeKind } from "./dedup";
import type { Enricher } from "./enrich";
import type { FalcoMetrics } from "./metrics";
import { noticeOf, type Notice } from "./notice";
import type { OutputLane } from "./outputs/queue";
import { PRIORITIES, type Priority } from "./priority";
import type { Responder } from "./response";
import { Ring } from "./ring";
import type { FalcoConfig } from "./schema";
import { foldSpan } from "./spans";
import { nowMs, type TraceContext, type Tracer } from "../../src/lib/trace/trace";

export type Incoming = Omit<Alert, "seq" | "received">;

export class Pipeline {
  readonly raw: Ring<Alert>;
  readonly groups: Ring<Group>;
  readonly dedup: Deduplicator;
  readonly byPriority: Record<Priority, number> = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
  readonly byRule = new Map<string, number>();
  notices = 0;

  /** `history` (the rings) outlives a reload when the caller keeps it; sizes come from the config. */
  constructor(cfg: FalcoConfig, private readonly d: { bus: Bus; enricher: Enricher; responder: Responder; metrics: FalcoMetrics; lanes: OutputLane[]; history?: { raw: Ring<Alert>; groups: Ring<Group> }; tracer?: Tracer }) {
    this.raw = d.history?.raw ?? new Ring(cfg.history.max_raw);
    this.groups = d.history?.groups ?? new Ring(cfg.history.max_folded);
    this.dedup = new Deduplicator(
      { windowMs: cfg.dedup.window, groupWaitMs: cfg.dedup.group_wait, keyFields: cfg.dedup.key_fields, perRule: cfg.dedup.rules, maxGroups: cfg.dedup.max_groups },
      (g, kind) => this.announce(g, kind),
      (g) => this.groups.push(g),
    );
  }

  /** `trace`: the intake request's span context; a sampled one gets a falco.fold span and is kept on each alert. */
  ingest(batch: Incoming[], now = Date.now(), trace?: TraceContext): void {
    const { enricher, responder, metrics } = this.d;
    const traced = trace !== undefined && trace.sampled && this.d.tracer !== undefined ? trace : undefined;
    const mark = traced && { t: nowMs(), folded: this.dedup.folded, groups: this.groups.total, notices: this.notices };
    for (const inc of batch) {
      const a = inc as Alert;
      if (traced !== undefined) a.trace = traced;
      a.seq = this.raw.total + 1; // the ring may outlive this instance: number from it
      a.received = now;
      const service = enricher.serviceOf(a.fields);
      if (service) { a.service = service; a.spiffe_id = enricher.spiffeOf(service); }
      this.raw.push(a);
      this.byPriority[a.priority]++;
      if (this.byRule.has(a.rule) || this.byRule.size < 1000) this.byRule.set(a.rule, (this.byRule.get(a.rule) ?? 0) + 1);
      metrics.alert(a.rule, a.priority);
      if (responder.enabled) responder.consider(a);
      const before = this.dedup.folded;
      a.group = this.dedup.offer(a, now).id;
      if (this.dedup.folded !== before) metrics.fold();
    }
    if (mark) foldSpan(this.d.tracer!, traced!, mark.t, batch.length, this.dedup.folded - mark.folded, this.groups.total - mark.groups, this.notices - mark.notices);
  }

  /** falcosidekick's POST /test: stored and announced to every output at once, whatever their minimum priority. */
  test(inc: Incoming, now = Date.now()): Notice {
    const a = inc as Alert;
    a.seq = this.raw.total + 1;
    a.received = now;
    this.raw.push(a);
    this.byPriority[a.priority]++;
    this.d.metrics.alert(a.rule, a.priority);
    const g: Group = { id: `test-${a.seq}`, rule: a.rule, key: {}, priority: a.priority, announced: a.priority, count: 1, announcedCount: 1, notifications: 1, first: now, last: now, windowEnd: now, flushAt: 0, sample: a, closed: true };
    a.group = g.id;
    return this.publish(noticeOf(g, "new"), true);
  }

  private announce(g: Group, kind: NoticeKind): void {
    this.publish(noticeOf(g, kind), false);
  }

  private publish(n: Notice, force: boolean): Notice {
    this.notices++;
    this.d.metrics.notification(n.kind);
    const { bus } = this.d;
    if (bus.hasListeners("security.alert")) {
      bus.emit("security.alert", { group: n.group, kind: n.kind, rule: n.rule, priority: n.priority, count: n.count, output: n.output, fields: n.fields, tags: n.tags, service: n.service, spiffeId: n.spiffe_id, firstSeen: n.first_seen, lastSeen: n.last_seen });
    }
    bus.emit("platform.event", {
      type: "security.alert", source: "falco", correlationId: n.uuid,
      payload: { rule: n.rule, priority: n.priority, output: n.output, fields: n.fields, count: n.count, group: n.group, kind: n.kind, first_seen: n.first_seen, last_seen: n.last_seen, tags: n.tags, source: n.source, ...(n.hostname ? { hostname: n.hostname } : {}), ...(n.service ? { service: n.service, spiffe_id: n.spiffe_id } : {}) },
    });
    for (const lane of this.d.lanes) lane.offer(n, force);
    return n;
  }
}
