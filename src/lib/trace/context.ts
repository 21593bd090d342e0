/**
 * W3C trace context (traceparent), the one definition: parse a caller's header, format ours, and mint
 * random ids. Pure (no imports), so the request context (src/core/request-context.ts) and the tracer
 * both build on it without importing each other.
 */
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

// Random hex from a pool: one crypto fill per 4 KiB of ids (the gateway mints them on every proxied request).
const POOL = new Uint8Array(4096);
let hex = "";
let pos = Infinity;
export function randomHex(chars: 16 | 32): string {
  if (pos + chars > hex.length) { crypto.getRandomValues(POOL); hex = Buffer.from(POOL.buffer).toString("hex"); pos = 0; }
  const s = hex.slice(pos, pos + chars);
  pos += chars;
  return s;
}

// Whole sampled traceparents, 64 at a time laid out in one string: a trace started here costs one slice,
// not two ids and a template (the gateway starts one for every request that came without).
const RECORD = 55; // "00-" 32 hex "-" 16 hex "-01"
const PER_FILL = 64;
const HEX = new TextEncoder().encode("0123456789abcdef");
const RANDOM = new Uint8Array(PER_FILL * 24);
const TEXT = Buffer.alloc(PER_FILL * RECORD);
let records = "";
let next = PER_FILL;

/** A fresh sampled traceparent ("00-<trace id>-<span id>-01"); its trace id is `tp.slice(3, 35)`. */
export function newTraceparent(): string {
  if (next === PER_FILL) {
    crypto.getRandomValues(RANDOM);
    for (let r = 0, o = 0; r < PER_FILL; r++) {
      TEXT[o++] = 48; TEXT[o++] = 48; TEXT[o++] = 45;
      for (let i = 0; i < 24; i++) {
        if (i === 16) TEXT[o++] = 45;
        const b = RANDOM[r * 24 + i];
        TEXT[o++] = HEX[b >> 4]; TEXT[o++] = HEX[b & 15];
      }
      TEXT[o++] = 45; TEXT[o++] = 48; TEXT[o++] = 49;
    }
    records = TEXT.toString("latin1");
    next = 0;
  }
  const at = next++ * RECORD;
  return records.slice(at, at + RECORD);
}
