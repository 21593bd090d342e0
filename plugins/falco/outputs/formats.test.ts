import { test, expect } from "bun:test";
import { alertmanagerAlert, requestFor, severityOf, slackBody } from "./formats";
import type { Notice } from "../notice";

const n: Notice = {
  group: "g1", kind: "new", sequence: 1, rule: "TradPal Crypto Miner Indicators", priority: "critical", count: 12,
  first_seen: "2026-12-06T00:00:00.000Z", last_seen: "2026-12-06T00:00:05.000Z", output: "miner", tags: ["quarantine"],
  fields: { "container.id": "abc", "proc.name": "xmrig", "user.name": "<NA>", "evt.time": 5 }, source: "syscall",
  hostname: "node-1", service: "trading_service", spiffe_id: "spiffe://tradpal.local/service/trading_service", uuid: "u1", time: "2026-12-06T00:00:05.000Z",
};

test("Alertmanager v2 alert: string labels (dots → _), count and SPIFFE id in annotations, endsAt after last seen", () => {
  const a = alertmanagerAlert(n, 60_000) as any;
  expect(a.labels).toEqual({ alertname: "FalcoAlert", rule: n.rule, priority: "Critical", severity: "critical", source: "syscall", group: "g1", hostname: "node-1", service: "trading_service", container_id: "abc", proc_name: "xmrig" });
  expect(a.annotations).toMatchObject({ count: "12", spiffe_id: n.spiffe_id });
  expect(a).toMatchObject({ startsAt: n.first_seen, endsAt: "2026-12-06T00:01:05.000Z" });
  expect(requestFor("alertmanager", [n, n], 1000).suffix).toBe("/api/v2/alerts");
  expect(JSON.parse(requestFor("alertmanager", [n, n], 1000).body)).toHaveLength(2);
});

test("webhook carries falcosidekick's payload shape plus the folding facts; Slack names priority and count", () => {
  const w = JSON.parse(requestFor("webhook", [n], 0).body);
  expect(w).toMatchObject({ uuid: "u1", rule: n.rule, priority: "Critical", output_fields: n.fields, tradpal: { count: 12, group: "g1", kind: "new" } });
  const s = slackBody(n) as any;
  expect(s.text).toBe("[Critical] TradPal Crypto Miner Indicators (×12 since 2026-12-06T00:00:00.000Z)");
  expect(s.attachments[0].color).toBe("#ff9000");
  expect(severityOf("warning")).toBe("warning");
  expect(severityOf("notice")).toBe("info");
});
