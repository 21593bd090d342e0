/**
 * Query/body parsing for reading and replay: types, source, time range (ISO 8601 or epoch ms),
 * id range, cursor. Bad values → EV_ERR_BAD_QUERY naming the parameter.
 */
import { EventErrors } from "./errors";
import { STREAM_ID_RE, type ReadQuery } from "./store/types";

export type Params = Record<string, unknown>;

function str(p: Params, key: string): string | undefined {
  const v = p[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (Array.isArray(v)) return v.map(String).join(",");
  return String(v);
}

export function parseTime(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "number" || /^\d+$/.test(String(value))) return Number(value);
  const ms = Date.parse(String(value));
  if (Number.isNaN(ms)) throw EventErrors.EV_ERR_BAD_QUERY(`${where} must be an ISO 8601 time or epoch milliseconds`, where);
  return ms;
}

export function parseId(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const s = String(value);
  if (!STREAM_ID_RE.test(s)) throw EventErrors.EV_ERR_BAD_QUERY(`${where} must be a stream id like 1732530000000-0`, where);
  return s;
}

export function parseTypes(p: Params, where: string): string[] | undefined {
  const raw = [p.type, p.types].flatMap((v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]));
  const types = raw.flatMap((v) => String(v).split(",")).map((s) => s.trim()).filter(Boolean);
  if (types.some((t) => t.length > 128)) throw EventErrors.EV_ERR_BAD_QUERY("event type too long", where);
  return types.length ? types : undefined;
}

/** The filter part shared by GET /events and POST /events/replay (keys: types/type, source, from, to, from_id, to_id). */
export function parseFilter(p: Params, prefix: string): Omit<ReadQuery, "limit"> {
  const q: Omit<ReadQuery, "limit"> = {};
  q.types = parseTypes(p, `${prefix}types`);
  q.source = str(p, "source");
  q.fromMs = parseTime(p.from, `${prefix}from`);
  q.toMs = parseTime(p.to, `${prefix}to`);
  q.fromId = parseId(p.from_id ?? p.fromId, `${prefix}from_id`);
  q.toId = parseId(p.to_id ?? p.toId, `${prefix}to_id`);
  if (q.fromMs !== undefined && q.toMs !== undefined && q.fromMs > q.toMs) throw EventErrors.EV_ERR_BAD_QUERY("from is after to", `${prefix}from`);
  return q;
}

export function parseLimit(value: unknown, max: number, fallback: number, where: string): number {
  if (value === undefined || value === null || value === "") return Math.min(fallback, max);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw EventErrors.EV_ERR_BAD_QUERY(`${where} must be a positive integer`, where);
  return Math.min(n, max);
}

const NAME_RE = /^[A-Za-z0-9_.\-]{1,100}$/;

export function parseName(value: unknown, where: string, required = true): string | undefined {
  if (value === undefined || value === null || value === "") {
    if (required) throw EventErrors.EV_ERR_BAD_QUERY(`${where} is required`, where);
    return undefined;
  }
  const s = String(value);
  if (!NAME_RE.test(s)) throw EventErrors.EV_ERR_BAD_QUERY(`${where} must be 1-100 of A-Z a-z 0-9 _ . -`, where);
  return s;
}

/** A stream id given as a cursor or to ack (`where` names it in the refusal). */
export function parseFilterId(value: unknown, where = "query.after", index?: number): string {
  const s = String(value);
  if (!/^\d{1,15}-\d{1,19}$/.test(s)) {
    const at = index === undefined ? where : `${where}/${index}`; // made on refusal only: an ack checks every id
    throw EventErrors.EV_ERR_BAD_QUERY(`${at} must be a stream id like 1732530000000-0`, at);
  }
  return s;
}
