/** JSON views of raw alerts and folded groups (GET /falco/alerts). */
import type { Alert } from "./alert";
import type { Group } from "./dedup";
import { PRIORITY_LABEL } from "./priority";

export function rawView(a: Alert) {
  return {
    seq: a.seq, uuid: a.uuid, rule: a.rule, priority: PRIORITY_LABEL[a.priority], output: a.output,
    time: new Date(a.time).toISOString(), received: new Date(a.received).toISOString(), source: a.source,
    hostname: a.hostname, tags: a.tags, output_fields: a.fields, service: a.service, spiffe_id: a.spiffe_id, group: a.group,
  };
}

export function groupView(g: Group, now: number) {
  return {
    group: g.id, rule: g.rule, priority: PRIORITY_LABEL[g.priority], count: g.count,
    first_seen: new Date(g.first).toISOString(), last_seen: new Date(g.last).toISOString(),
    open: !g.closed && now < g.windowEnd, notifications: g.notifications, key: g.key,
    service: g.sample.service, spiffe_id: g.sample.spiffe_id,
    sample: { uuid: g.sample.uuid, output: g.sample.output, output_fields: g.sample.fields, hostname: g.sample.hostname, tags: g.sample.tags, source: g.sample.source },
  };
}
