/**
 * Byte classes of an HTTP/1.1 field line (RFC 9110 §5.1, §5.5) and field names lower-cased without
 * making a string for the common ones: the request-head parser (head.ts) reads the field section byte
 * by byte, so one pass checks, splits and names every line.
 */

/** 1 for a tchar: the bytes a field name (and a method) is made of. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** 1 for a byte no field value may hold: control bytes other than HTAB (CR and LF included), and DEL. */
export const BAD_VALUE_BYTE = new Uint8Array(256);
for (let c = 0; c < 32; c++) if (c !== 9) BAD_VALUE_BYTE[c] = 1;
BAD_VALUE_BYTE[127] = 1;

/**
 * Names seen on most requests, as the one string each: a request carrying them costs no lower-casing
 * (String#toLowerCase on a substring was the largest item of the head parse) and the gateway's and
 * plugins' lookups by name compare the same string.
 */
const COMMON = [
  "host", "connection", "content-length", "transfer-encoding", "upgrade", "expect", "te", "trailer", "keep-alive",
  "user-agent", "accept", "accept-encoding", "accept-language", "accept-charset", "authorization", "proxy-authorization",
  "content-type", "content-encoding", "cookie", "origin", "referer", "cache-control", "pragma", "range",
  "if-none-match", "if-match", "if-modified-since", "if-unmodified-since", "x-request-id", "traceparent", "tracestate",
  "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip", "x-api-key", "idempotency-key",
  "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions", "dnt", "priority",
  "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user", "upgrade-insecure-requests", "x-vault-token",
  "x-vault-request", "x-vault-namespace", "x-correlation-id", "last-event-id", "baggage",
];

/** COMMON by length: a name is compared only with the names as long as it. */
const BY_LENGTH: (string[] | undefined)[] = [];
for (const n of COMMON) (BY_LENGTH[n.length] ??= []).push(n);

/**
 * The lower-cased name of the field in `buf[from, to)` (bytes already checked to be tchars);
 * `text` holds the same bytes as a latin1 string from `base`. `upper`: the name has an A-Z byte.
 */
export function fieldName(buf: Buffer, from: number, to: number, text: string, base: number, upper: boolean): string {
  const candidates = BY_LENGTH[to - from];
  if (candidates !== undefined) {
    next: for (let k = 0; k < candidates.length; k++) {
      const c = candidates[k];
      // ORing 0x20 lower-cases A-Z and maps no other tchar onto a-z, '-' or a digit.
      for (let j = 0; j < c.length; j++) if ((buf[from + j] | 0x20) !== c.charCodeAt(j)) continue next;
      return c;
    }
  }
  const s = text.slice(from - base, to - base);
  return upper ? s.toLowerCase() : s;
}
