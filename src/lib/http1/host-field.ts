/**
 * The Host field checked as RFC 9110 §7.2 / RFC 3986 §3.2.2 describe it, by one char-code scan (it
 * runs per request): `reg-name | IPv4 | [IPv6] [":" port]`. Stricter than the grammar where
 * leniency lets two parsers disagree about the authority: no userinfo ("@"), no "/", "\", "?", "#",
 * spaces, commas (a joined "a, b" would read as two hosts) or other sub-delims, no "..", no empty
 * host, and a port of 1-5 digits up to 65535.
 */

/** ALPHA DIGIT - . _ ~ (the unreserved set): the only bytes a reg-name may hold here. */
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** The last Host found usable: a client's connection repeats its Host on every request (compared, not scanned again). */
let lastGood = "";

/** Why `value` is not a usable Host, or undefined when it is. */
export function hostProblem(value: string): string | undefined {
  if (value === lastGood && value.length !== 0) return undefined;
  const why = scanHost(value);
  if (why === undefined && value.length <= 255) lastGood = value;
  return why;
}

function scanHost(value: string): string | undefined {
  const n = value.length;
  if (n === 0) return "empty Host";
  let i = 0;
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf("]");
    if (close < 3) return "malformed IP literal in Host";
    let colons = 0;
    for (i = 1; i < close; i++) {
      const c = value.charCodeAt(i);
      if (c === 58) colons++;
      else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 46)) return "malformed IP literal in Host";
    }
    if (colons < 2) return "malformed IP literal in Host";
    i = close + 1;
  } else {
    let prev = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (!isNameChar(c)) return c === 64 ? "userinfo in Host" : "invalid character in Host";
      if (c === 46 && prev === 46) return "'..' in Host";
      prev = c;
    }
    if (i === 0) return "empty host name in Host";
  }
  if (i === n) return undefined;
  if (value.charCodeAt(i) !== 58) return "invalid character in Host";
  const digits = n - i - 1;
  if (digits < 1 || digits > 5) return "bad port in Host";
  let port = 0;
  for (let k = i + 1; k < n; k++) {
    const c = value.charCodeAt(k);
    if (c < 48 || c > 57) return "bad port in Host";
    port = port * 10 + (c - 48);
  }
  return port > 65535 ? "bad port in Host" : undefined;
}
