/**
 * A Falco alert as received: the JSON Falco writes with json_output (and http_output posts), the same
 * shape falcosidekick accepts on `POST /` and sends from its webhook output (plus `uuid`). Validation
 * follows falcosidekick's own check (a known priority, a rule, a time) and refuses what could hurt us
 * (huge field maps, non-scalar field values); an `output` that is too long is cut, not refused.
 */
import { FalcoErrors } from "./errors";
import { parsePriority, type Priority } from "./priority";

export type FieldValue = string | number | boolean | null;
const EMPTY_FIELDS: Record<string, FieldValue> = Object.freeze({}) as Record<string, FieldValue>;
import type { TraceContext } from "../../src/lib/trace/trace";

export interface Alert {
  /** Intake order, 1-based, process-wide for this plugin. */
  seq: number;
  /** From the payload (falcosidekick adds one), else generated. */
  uuid: string;
  rule: string;
  priority: Priority;
  output: string;
  /** Event time from Falco (epoch ms). */
  time: number;
  /** When the plugin received it (epoch ms). */
  received: number;
  source: string;
  hostname?: string;
  tags: string[];
  fields: Record<string, FieldValue>;
  /** Enrichment: the platform service the container belongs to, and its SPIFFE id. */
  service?: string;
  spiffe_id?: string;
  /** The folded group this alert was counted in. */
  group?: string;
  /** Its intake request's span (set only for a sampled trace: spans.ts). */
  trace?: TraceContext;
}

export interface ParseLimits {
  maxOutputLength: number;
  maxFields: number;
}

interface Problem { where: string; message: string }

const MAX_RULE = 512;
const OPTIONAL_STRINGS = ["source", "hostname", "uuid"] as const;
/** Ids for alerts that came without a uuid: unique per process (random prefix + counter), no CSPRNG call per alert. */
const ID_PREFIX = crypto.randomUUID().slice(0, 18);
let idCounter = 0;
export function localId(): string {
  return ID_PREFIX + (++idCounter).toString(16).padStart(12, "0");
}
const MAX_TAGS = 64;
const MAX_STR = 4096;

/** Check one decoded JSON value; returns the alert (seq/received left to the caller) or the problems found. */
export function validateAlert(raw: unknown, at: string, limits: ParseLimits, problems: Problem[]): Omit<Alert, "seq" | "received"> | undefined {
  const before = problems.length;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    problems.push({ where: at || "/", message: "an alert must be a JSON object" });
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  const rule = o.rule;
  if (typeof rule !== "string" || rule.length === 0 || rule.length > MAX_RULE) problems.push({ where: `${at}/rule`, message: `rule must be a string of 1-${MAX_RULE} characters` });
  const priority = parsePriority(o.priority);
  if (!priority) problems.push({ where: `${at}/priority`, message: "priority must be one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug" });
  let time = NaN;
  if (typeof o.time === "string" && o.time.length <= 64) time = Date.parse(o.time);
  else if (typeof o.time === "number") time = o.time > 1e15 ? Math.floor(o.time / 1e6) : o.time; // Falco's evt.time is in ns
  if (!Number.isFinite(time)) problems.push({ where: `${at}/time`, message: "time must be an RFC 3339 timestamp" });
  if (o.output !== undefined && typeof o.output !== "string") problems.push({ where: `${at}/output`, message: "output must be a string" });
  for (const k of OPTIONAL_STRINGS) {
    const v = o[k];
    if (v !== undefined && v !== null && (typeof v !== "string" || v.length > 256)) problems.push({ where: `${at}/${k}`, message: `${k} must be a string of at most 256 characters` });
  }
  const tags: string[] = [];
  if (o.tags !== undefined && o.tags !== null) {
    if (!Array.isArray(o.tags) || o.tags.length > MAX_TAGS) problems.push({ where: `${at}/tags`, message: `tags must be an array of at most ${MAX_TAGS} strings` });
    else for (let i = 0; i < o.tags.length; i++) {
      const t = o.tags[i];
      if (typeof t !== "string" || t.length > 256) { problems.push({ where: `${at}/tags/${i}`, message: "a tag must be a string of at most 256 characters" }); break; }
      tags.push(t);
    }
  }
  // The decoded object is kept as it is (no copy per alert) once every value is checked; only an
  // over-long string is cut in place.
  let fields: Record<string, FieldValue> = EMPTY_FIELDS;
  const of = o.output_fields;
  if (of !== undefined && of !== null) {
    if (typeof of !== "object" || Array.isArray(of)) problems.push({ where: `${at}/output_fields`, message: "output_fields must be an object" });
    else {
      const f = of as Record<string, unknown>;
      let n = 0;
      for (const key in f) {
        if (++n > limits.maxFields) { problems.push({ where: `${at}/output_fields`, message: `more than ${limits.maxFields} output fields` }); break; }
        const v = f[key];
        if (typeof v === "string") { if (v.length > MAX_STR) f[key] = v.slice(0, MAX_STR) + "[...]"; }
        else if (v !== null && typeof v !== "number" && typeof v !== "boolean") { problems.push({ where: `${at}/output_fields/${key}`, message: "an output field must be a string, number, boolean or null" }); break; }
      }
      fields = f as Record<string, FieldValue>;
    }
  }
  if (problems.length > before) return undefined;
  let output = (o.output as string | undefined) ?? "";
  if (output.length > limits.maxOutputLength) output = output.slice(0, limits.maxOutputLength) + "[...]";
  return {
    uuid: typeof o.uuid === "string" && o.uuid.length > 0 ? o.uuid : localId(),
    rule: rule as string,
    priority: priority!,
    output,
    time,
    source: typeof o.source === "string" && o.source.length > 0 ? o.source : "syscall",
    hostname: typeof o.hostname === "string" && o.hostname.length > 0 ? o.hostname : undefined,
    tags,
    fields,
  };
}

/**
 * Decode a request body: one alert or an array of them. All-or-nothing: one bad alert refuses the
 * request (400 naming every problem, up to 20), so Falco's retry does not store half a batch twice.
 */
export function parseAlerts(text: string, limits: ParseLimits & { maxBatch: number }): Omit<Alert, "seq" | "received">[] {
  if (text.trim() === "") throw FalcoErrors.FALCO_ERR_EMPTY(undefined, "/");
  let body: unknown;
  try { body = JSON.parse(text); } catch (err) { throw FalcoErrors.FALCO_ERR_PARSE(`request body is not JSON: ${(err as Error).message}`, "/"); }
  const problems: Problem[] = [];
  const out: Omit<Alert, "seq" | "received">[] = [];
  if (Array.isArray(body)) {
    if (body.length === 0) throw FalcoErrors.FALCO_ERR_EMPTY("the array holds no alerts", "/");
    if (body.length > limits.maxBatch) throw FalcoErrors.FALCO_ERR_BATCH_TOO_LARGE(`${body.length} alerts in one request; at most ${limits.maxBatch}`, "/");
    for (let i = 0; i < body.length && problems.length < 20; i++) {
      const a = validateAlert(body[i], `/${i}`, limits, problems);
      if (a) out.push(a);
    }
  } else {
    const a = validateAlert(body, "", limits, problems);
    if (a) out.push(a);
  }
  if (problems.length > 0) throw FalcoErrors.FALCO_ERR_INVALID_ALERT(problems[0].message, problems[0].where, problems.slice(0, 20));
  return out;
}
