/**
 * GET /falco/alerts query: filters shared by the raw and the folded views (priority = at least this,
 * rule, service, since/until as RFC 3339 or epoch ms), newest first, bounded page.
 */
import { FalcoErrors } from "./errors";
import { atLeast, parsePriority, type Priority } from "./priority";

export interface AlertQuery {
  folded: boolean;
  priority?: Priority;
  rule?: string;
  service?: string;
  since?: number;
  until?: number;
  limit: number;
}

const KNOWN = new Set(["folded", "priority", "rule", "service", "since", "until", "limit"]);

function time(v: string, where: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw FalcoErrors.FALCO_ERR_BAD_QUERY(`${where.slice(7)} must be an RFC 3339 time or epoch milliseconds`, where);
  return n;
}

export function parseQuery(q: URLSearchParams, maxLimit: number): AlertQuery {
  for (const k of q.keys()) if (!KNOWN.has(k)) throw FalcoErrors.FALCO_ERR_BAD_QUERY(`unknown query parameter ${k} (known: ${[...KNOWN].join(", ")})`, `/query/${k}`);
  const out: AlertQuery = { folded: true, limit: 100 };
  const folded = q.get("folded");
  if (folded !== null) {
    if (folded !== "true" && folded !== "false") throw FalcoErrors.FALCO_ERR_BAD_QUERY("folded must be true or false", "/query/folded");
    out.folded = folded === "true";
  }
  const p = q.get("priority");
  if (p !== null) {
    out.priority = parsePriority(p);
    if (!out.priority) throw FalcoErrors.FALCO_ERR_BAD_QUERY("priority must be a Falco priority (debug … emergency); it is a minimum", "/query/priority");
  }
  const rule = q.get("rule");
  if (rule !== null) out.rule = rule;
  const service = q.get("service");
  if (service !== null) out.service = service;
  const since = q.get("since");
  if (since !== null) out.since = time(since, "/query/since");
  const until = q.get("until");
  if (until !== null) out.until = time(until, "/query/until");
  const limit = q.get("limit");
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > maxLimit) throw FalcoErrors.FALCO_ERR_BAD_QUERY(`limit must be an integer 1-${maxLimit}`, "/query/limit");
    out.limit = n;
  }
  return out;
}

export interface Filterable { rule: string; priority: Priority; service?: string; time: number }

export function matches(q: AlertQuery, x: Filterable): boolean {
  if (q.priority && !atLeast(x.priority, q.priority)) return false;
  if (q.rule !== undefined && x.rule !== q.rule) return false;
  if (q.service !== undefined && x.service !== q.service) return false;
  if (q.since !== undefined && x.time < q.since) return false;
  if (q.until !== undefined && x.time > q.until) return false;
  return true;
}
