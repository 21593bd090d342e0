/**
 * One normalised path, made once before routing; the upstream is sent exactly this path (issue 11,
 * Build 5). Percent-encoded unreserved bytes (ALPHA DIGIT - . _ ~) are decoded, dot segments removed
 * (RFC 3986 §5.2.4; ".." never climbs above "/"), repeated slashes merged. What two parsers could
 * read differently is refused (400 GW_ERR_BAD_PATH) unless the route says `path_escapes: keep`:
 * an encoded slash or backslash (%2F, %5C), an encoded dot segment (%2e%2e, .%2E, %2e. ...), a
 * literal backslash. Refused whatever the route says: %00, invalid or overlong UTF-8 (%c0%ae,
 * %e0%80%ae...), a malformed escape (%zz), "#". Other escapes (%20, %3F, %25...) stay as sent:
 * %252e is the data "%2e", not a dot. The query string is not this file's business.
 */

/** `reject` (default): refuse what could escape the route; `keep`: forward it as sent (the upstream decides). */
export type PathEscapes = "reject" | "keep";

export interface PathFault {
  readonly problem: "escaped-slash" | "escaped-dot" | "backslash" | "nul" | "bad-utf8" | "bad-escape" | "bad-char";
  readonly message: string;
  /** A route with `path_escapes: keep` takes the path as sent instead. */
  readonly switchable: boolean;
}

function fault(problem: PathFault["problem"], message: string, switchable: boolean): PathFault {
  return Object.freeze({ problem, message, switchable });
}
const ESCAPED_SLASH = fault("escaped-slash", "an encoded slash or backslash (%2F, %5C) is not allowed in the path", true);
const ESCAPED_DOT = fault("escaped-dot", "an encoded dot segment (%2E) is not allowed in the path", true);
const BACKSLASH = fault("backslash", "a backslash is not allowed in the path", true);
const NUL = fault("nul", "a NUL byte (%00) is not allowed in the path", false);
const BAD_UTF8 = fault("bad-utf8", "the path's percent-encoding is not valid UTF-8 (overlong or truncated)", false);
const BAD_ESCAPE = fault("bad-escape", "malformed percent-encoding in the path", false);
const BAD_CHAR = fault("bad-char", "the path holds a character a request target cannot", false);

/** The fast scan's table: 1 = needs the slow path ("%", "\\", "#", controls, space), 2 = a slash (look at the next byte). */
const SCAN = new Uint8Array(127);
for (let c = 0; c < 33; c++) SCAN[c] = 1;
SCAN[37] = 1;
SCAN[92] = 1;
SCAN[35] = 1;
SCAN[47] = 2;

function hex(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
}

function isUnreserved(b: number): boolean {
  return (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b === 45 || b === 46 || b === 95 || b === 126;
}

/** The byte escaped at path[i] ("%XX"), or -1. */
function escapedByte(path: string, i: number): number {
  if (i + 2 >= path.length || path.charCodeAt(i) !== 37) return -1;
  const h = hex(path.charCodeAt(i + 1));
  const l = hex(path.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/**
 * The normalised path, or why it is refused. The common clean path (no "%", "\", "#", "//" or "/.")
 * is one scan and comes back as the same string.
 */
export function normalisePath(path: string, escapes: PathEscapes = "reject"): string | PathFault {
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c > 126) return slow(path, escapes);
    const k = SCAN[c];
    if (k === 0) continue;
    if (k === 1) return slow(path, escapes);
    const d = path.charCodeAt(i + 1); // after a slash: another slash or a dot may start a segment to resolve
    if (d === 47 || d === 46) return slow(path, escapes);
  }
  return path;
}

function slow(path: string, escapes: PathEscapes): string | PathFault {
  const keep = escapes === "keep";
  const n = path.length;
  const out: string[] = [];
  let i = path.charCodeAt(0) === 47 ? 1 : 0;
  let trailing = false;
  for (;;) {
    const start = i;
    let seg = "";
    let encodedDot = false;
    while (i < n) {
      const c = path.charCodeAt(i);
      if (c === 47) break;
      if (c === 92) { if (!keep) return BACKSLASH; seg += "\\"; i++; continue; }
      if (c === 35 || c < 33 || c > 126) return c === 0 ? NUL : BAD_CHAR;
      if (c !== 37) { seg += path[i]; i++; continue; }
      const b = escapedByte(path, i);
      if (b < 0) return BAD_ESCAPE;
      if (b === 0) return NUL;
      if (isUnreserved(b)) {
        if (b === 46) encodedDot = true;
        seg += String.fromCharCode(b);
        i += 3;
        continue;
      }
      if (b === 0x2f || b === 0x5c) { if (!keep) return ESCAPED_SLASH; seg += path.slice(i, i + 3); i += 3; continue; }
      if (b >= 0x80) {
        const len = utf8Length(path, i, b);
        if (len < 0) return BAD_UTF8;
        seg += path.slice(i, i + 3 * len);
        i += 3 * len;
        continue;
      }
      seg += path.slice(i, i + 3); // reserved or control: stays escaped, it is data
      i += 3;
    }
    const dot = seg === "." || seg === "..";
    if (dot && encodedDot) {
      if (!keep) return ESCAPED_DOT;
      out.push(path.slice(start, i)); // kept as sent: data to us, the upstream decides
    } else if (seg === "..") {
      out.pop();
    } else if (!dot && seg.length > 0) {
      out.push(seg);
    }
    if (i >= n) { trailing = seg.length === 0 || (dot && !encodedDot); break; }
    i++; // the slash
  }
  return out.length === 0 ? "/" : "/" + out.join("/") + (trailing ? "/" : "");
}

/**
 * A UTF-8 sequence escaped from path[i] whose lead byte is `lead`: its length in bytes, or -1 when it
 * is invalid (stray continuation, overlong form, surrogate, above U+10FFFF, truncated).
 */
function utf8Length(path: string, i: number, lead: number): number {
  let len: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) len = 2;
  else if (lead >= 0xe0 && lead <= 0xef) { len = 3; if (lead === 0xe0) lo = 0xa0; else if (lead === 0xed) hi = 0x9f; }
  else if (lead >= 0xf0 && lead <= 0xf4) { len = 4; if (lead === 0xf0) lo = 0x90; else if (lead === 0xf4) hi = 0x8f; }
  else return -1; // 0x80-0xc1 (continuation, overlong C0/C1), 0xf5-0xff
  for (let k = 1; k < len; k++) {
    const b = escapedByte(path, i + 3 * k);
    if (b < lo || b > hi) return -1;
    lo = 0x80;
    hi = 0xbf;
  }
  return len;
}
