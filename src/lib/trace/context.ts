/**
 * W3C trace context (traceparent), the one definition: parse a caller's header, format ours, and mint
 * random ids. Imports only random-text.ts, so the request context (src/core/request-context.ts) and the
 * tracer both build on it without importing each other.
 */
import { pooledRecords, writeHex } from "../random-text";

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export function parseTraceparent(h: string | null | undefined): { traceId: string; spanId: string; sampled: boolean } | undefined {
  if (!h) return undefined;
  const m = TRACEPARENT_RE.exec(h.trim());
  if (m === null || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

// Random hex ids, each a slice of a pool (random-text.ts): the gateway mints them on every proxied request.
const hex16 = pooledRecords(16, 8, (text, at, random, from) => writeHex(text, at, random, from, from + 8));
const hex32 = pooledRecords(32, 16, (text, at, random, from) => writeHex(text, at, random, from, from + 16));
export function randomHex(chars: 16 | 32): string {
  return chars === 16 ? hex16() : hex32();
}

/** A fresh sampled traceparent ("00-<trace id>-<span id>-01"), one slice of a pool (random-text.ts); its trace id is `tp.slice(3, 35)`. */
export const newTraceparent = pooledRecords(55, 24, (text, at, random, from) => {
  text[at++] = 48; text[at++] = 48; text[at++] = 45; // "00-"
  at = writeHex(text, at, random, from, from + 16);
  text[at++] = 45;
  at = writeHex(text, at, random, from + 16, from + 24);
  text[at++] = 45; text[at++] = 48; text[at++] = 49; // "-01"
  return at;
});
