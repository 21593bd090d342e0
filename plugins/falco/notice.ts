/**
 * A notification: a snapshot of a folded group at the moment it is announced (the group keeps counting
 * afterwards). What outputs deliver and what goes on the bus as `security.alert`.
 */
import type { FieldValue } from "./alert";
import type { TraceContext } from "../../src/lib/trace/trace";
import type { Group, NoticeKind } from "./dedup";
import { PRIORITY_LABEL, type Priority } from "./priority";

export interface Notice {
  group: string;
  kind: NoticeKind;
  /** 1 for the group's first notification, then 2, 3… */
  sequence: number;
  rule: string;
  priority: Priority;
  count: number;
  first_seen: string;
  last_seen: string;
  output: string;
  fields: Record<string, FieldValue>;
  tags: string[];
  source: string;
  hostname?: string;
  service?: string;
  spiffe_id?: string;
  /** uuid of the alert that represents the group. */
  uuid: string;
  /** Falco's event time of that alert. */
  time: string;
  /** That alert's intake span (sampled traces only): the output's delivery span joins its trace. */
  trace?: TraceContext;
}

export function noticeOf(g: Group, kind: NoticeKind): Notice {
  const a = g.sample;
  return {
    group: g.id, kind, sequence: g.notifications, rule: g.rule, priority: g.priority, count: g.count,
    first_seen: new Date(g.first).toISOString(), last_seen: new Date(g.last).toISOString(),
    output: a.output, fields: a.fields, tags: a.tags, source: a.source, hostname: a.hostname,
    service: a.service, spiffe_id: a.spiffe_id, uuid: a.uuid, time: new Date(a.time).toISOString(), trace: a.trace,
  };
}

/**
 * falcosidekick's payload shape (uuid, output, priority, rule, time, output_fields, source, tags, hostname)
 * with the folding facts under `tradpal`: another falcosidekick, or this plugin, can take it as input.
 */
export function falcoPayloadOf(n: Notice): Record<string, unknown> {
  return {
    uuid: n.uuid, output: n.output, priority: PRIORITY_LABEL[n.priority], rule: n.rule, time: n.time,
    output_fields: n.fields, source: n.source, tags: n.tags, ...(n.hostname ? { hostname: n.hostname } : {}),
    tradpal: { group: n.group, kind: n.kind, sequence: n.sequence, count: n.count, first_seen: n.first_seen, last_seen: n.last_seen, service: n.service, spiffe_id: n.spiffe_id },
  };
}
