/**
 * Request bodies per output type. Pure: (notices) → { path suffix, JSON body }.
 *   webhook       one falcosidekick-shaped payload per request (with the count under `tradpal`)
 *   slack         Slack incoming-webhook message (text + one attachment); Mattermost/Rocket.Chat accept it too
 *   alertmanager  Prometheus Alertmanager API v2: POST /api/v2/alerts with an array of postable alerts
 */
import { falcoPayloadOf, type Notice } from "../notice";
import { PRIORITY_LABEL, rank, type Priority } from "../priority";

export type OutputType = "webhook" | "slack" | "alertmanager";

const SLACK_COLOR: Record<Priority, string> = {
  emergency: "#e20b0b", alert: "#ff5400", critical: "#ff9000", error: "#ffc700",
  warning: "#ffff00", notice: "#5bffb5", informational: "#68c2ff", debug: "#ccfff2",
};

/** Alertmanager's conventional severity label values. */
export function severityOf(p: Priority): string {
  return rank(p) >= rank("critical") ? "critical" : rank(p) >= rank("warning") ? "warning" : "info";
}

function countText(n: Notice): string {
  return n.count > 1 ? ` (×${n.count} since ${n.first_seen})` : "";
}

export function slackBody(n: Notice): Record<string, unknown> {
  const fields = [
    { title: "rule", value: n.rule, short: true },
    { title: "priority", value: PRIORITY_LABEL[n.priority], short: true },
    { title: "count", value: String(n.count), short: true },
    ...(n.service ? [{ title: "service", value: n.service, short: true }] : []),
    ...(n.hostname ? [{ title: "hostname", value: n.hostname, short: true }] : []),
    ...Object.entries(n.fields).slice(0, 20).map(([k, v]) => ({ title: k, value: String(v), short: true })),
  ];
  return {
    text: `[${PRIORITY_LABEL[n.priority]}] ${n.rule}${countText(n)}${n.kind === "escalation" ? " — escalated" : ""}`,
    attachments: [{ color: SLACK_COLOR[n.priority], text: n.output, fields, footer: "tradpal falco", ts: Math.floor(Date.parse(n.last_seen) / 1000) }],
  };
}

const LABEL_NAME = /[^a-zA-Z0-9_]/g;

/** One Alertmanager alert per group: the group id is a label, so repeated notices update the same alert. */
export function alertmanagerAlert(n: Notice, expiresAfterMs: number): Record<string, unknown> {
  const labels: Record<string, string> = {
    alertname: "FalcoAlert", rule: n.rule, priority: PRIORITY_LABEL[n.priority], severity: severityOf(n.priority),
    source: n.source, group: n.group,
  };
  if (n.hostname) labels.hostname = n.hostname;
  if (n.service) labels.service = n.service;
  for (const k of ["container.id", "container.name", "k8s.ns.name", "k8s.pod.name", "proc.name", "user.name"]) {
    const v = n.fields[k];
    if (typeof v === "string" && v !== "" && v !== "<NA>") labels[k.replace(LABEL_NAME, "_")] = v;
  }
  return {
    labels,
    annotations: { summary: `${n.rule}${countText(n)}`, description: n.output, count: String(n.count), first_seen: n.first_seen, ...(n.spiffe_id ? { spiffe_id: n.spiffe_id } : {}) },
    startsAt: n.first_seen,
    endsAt: new Date(Date.parse(n.last_seen) + expiresAfterMs).toISOString(),
  };
}

export function requestFor(type: OutputType, batch: Notice[], expiresAfterMs: number): { suffix: string; body: string } {
  switch (type) {
    case "webhook": return { suffix: "", body: JSON.stringify(falcoPayloadOf(batch[0])) };
    case "slack": return { suffix: "", body: JSON.stringify(slackBody(batch[0])) };
    case "alertmanager": return { suffix: "/api/v2/alerts", body: JSON.stringify(batch.map((n) => alertmanagerAlert(n, expiresAfterMs))) };
  }
}
