/**
 * Human units in config: durations ("250ms", "30s", "5m", "1h", "1d"; a bare number is seconds, as in
 * the seed's RECOVERY_TIMEOUT=60) and rates ("1000/min", "50/s", "10000/h"; a bare number is per minute,
 * as in RATE_LIMIT_DEFAULT=1000). Sizes ("10mb", "512kb"; a bare number is bytes).
 */
import { Type, type TSchema, type TTransform, type TUnion, type TString, type TNumber } from "@sinclair/typebox";

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string | number): number {
  if (typeof value === "number") return value * 1000;
  const m = DURATION_RE.exec(value);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  return Number(m[1]) * UNIT_MS[(m[2] ?? "s").toLowerCase()];
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export interface Rate {
  /** Requests allowed per period. */
  limit: number;
  periodMs: number;
}

const RATE_RE = /^\s*(\d+)\s*(?:\/\s*(\d+)?\s*(ms|s|sec|second|m|min|minute|h|hour|d|day))?\s*$/i;
const RATE_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, second: 1000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000, d: 86_400_000, day: 86_400_000 };

export function parseRate(value: string | number): Rate {
  if (typeof value === "number") return { limit: value, periodMs: 60_000 };
  const m = RATE_RE.exec(value);
  if (!m) throw new Error(`not a rate: ${JSON.stringify(value)}`);
  const unit = (m[3] ?? "min").toLowerCase();
  return { limit: Number(m[1]), periodMs: Number(m[2] ?? 1) * RATE_UNIT_MS[unit] };
}

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?\s*$/i;
const SIZE_UNIT: Record<string, number> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

export function parseSize(value: string | number): number {
  if (typeof value === "number") return value;
  const m = SIZE_RE.exec(value);
  if (!m) throw new Error(`not a size: ${JSON.stringify(value)}`);
  return Math.floor(Number(m[1]) * SIZE_UNIT[(m[2] ?? "b").toLowerCase()]);
}

/** Marker read by the config loader to print "expected a duration like ..." instead of a union error. */
export const HUMAN_KIND = "x-human";

type Human<T> = TTransform<TUnion<[TString, TNumber]>, T>;

function human<T>(kind: string, pattern: RegExp, decode: (v: string | number) => T, encode: (v: T) => string | number, opts: { default?: string | number; description?: string }): Human<T> {
  const schema = Type.Union([Type.String({ pattern: pattern.source.replace(/\(\?:/g, "(?:") }), Type.Number({ minimum: 0 })], {
    [HUMAN_KIND]: kind,
    ...(opts.default !== undefined ? { default: opts.default } : {}),
    ...(opts.description ? { description: opts.description } : {}),
  });
  return Type.Transform(schema).Decode(decode).Encode(encode) as Human<T>;
}

/** A duration in config; decodes to milliseconds. */
export function Duration(opts: { default?: string | number; description?: string } = {}): Human<number> {
  return human("a duration like \"500ms\", \"30s\", \"5m\", \"1h\"", DURATION_RE, parseDuration, formatDuration, opts);
}

/** A rate in config; decodes to { limit, periodMs }. */
export function RateLimit(opts: { default?: string | number; description?: string } = {}): Human<Rate> {
  return human("a rate like \"1000/min\", \"50/s\", \"10/5s\"", RATE_RE, parseRate, (r) => `${r.limit}/${formatDuration(r.periodMs)}`, opts);
}

/** A byte size in config; decodes to bytes. */
export function ByteSize(opts: { default?: string | number; description?: string } = {}): Human<number> {
  return human("a size like \"512kb\", \"10mb\", \"1gb\"", SIZE_RE, parseSize, (n) => n, opts);
}

export type { TSchema };
