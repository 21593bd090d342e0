/**
 * A response head read for relaying, at byte level: status, framing and connection semantics, and
 * which field lines a proxy must drop (hop-by-hop, and the ones it sets itself), without turning
 * the head into strings. The relay then copies the kept lines as bytes. A head this cannot vouch
 * for (odd Connection tokens) is flagged `needsParse` and goes through parseResponseHead instead.
 */

const MAX_LINES = 128;

export class ResponseScan {
  status = 0;
  /** Offset of the status code (the relay writes its own "HTTP/1.1 " before it). */
  codeAt = 0;
  statusLineEnd = 0;
  contentLength = -1;
  chunked = false;
  close = false;
  /** A Connection header listed other fields (or too many lines): use the string parser. */
  needsParse = false;
  /**
   * [start, end) byte ranges of what is kept, adjacent lines merged into one range (each ends with a
   * CRLF). For an HTTP/1.1 status line the first range starts with it, so a head with nothing to drop
   * is a single range; otherwise the relay writes its own status line from codeAt.
   */
  readonly kept = new Int32Array(MAX_LINES * 2);
  keptCount = 0;
  /** The status line is HTTP/1.1 and is the start of the first kept range. */
  statusKept = false;
  /** The head has a Date field (a proxy adds one when it has not: RFC 9110 §6.6.1). */
  hasDate = false;
  /** Total bytes of the kept field lines (the status line not counted). */
  keptBytes = 0;
}

function lower(c: number): number { return c >= 65 && c <= 90 ? c + 32 : c; }

/** True when buf[s, s+name.length) equals `name` (lower-case ASCII) ignoring case. */
function nameIs(buf: Uint8Array, s: number, len: number, name: string): boolean {
  if (len !== name.length) return false;
  for (let i = 0; i < len; i++) if (lower(buf[s + i]) !== name.charCodeAt(i)) return false;
  return true;
}

/** Does buf[s, e) contain `word` (lower-case) ignoring case? */
function valueHas(buf: Uint8Array, s: number, e: number, word: string): boolean {
  const n = word.length;
  const first = word.charCodeAt(0);
  for (let i = s; i + n <= e; i++) {
    if (lower(buf[i]) !== first) continue;
    let k = 1;
    while (k < n && lower(buf[i + k]) === word.charCodeAt(k)) k++;
    if (k === n) return true;
  }
  return false;
}

function trimStart(buf: Uint8Array, s: number, e: number): number { while (s < e && (buf[s] === 32 || buf[s] === 9)) s++; return s; }
function trimEnd(buf: Uint8Array, s: number, e: number): number { while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--; return e; }

/**
 * Scan buf[at, end) (end = index of the blank line's CRLFCRLF) into `out`. Returns false when it is
 * not a response head at all. Dropped: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Upgrade (RFC 9110 §7.6.1) and X-Request-Id (the gateway sets its own).
 */
export function scanResponseHead(buf: Buffer, at: number, end: number, out: ResponseScan): boolean {
  // "HTTP/1.x NNN"
  if (end - at < 12 || buf[at] !== 72 || buf[at + 1] !== 84 || buf[at + 2] !== 84 || buf[at + 3] !== 80 || buf[at + 4] !== 47 || buf[at + 5] !== 49 || buf[at + 6] !== 46 || buf[at + 8] !== 32) return false;
  const d0 = buf[at + 9] - 48, d1 = buf[at + 10] - 48, d2 = buf[at + 11] - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false;
  out.status = d0 * 100 + d1 * 10 + d2;
  out.codeAt = at + 9;
  out.contentLength = -1;
  out.chunked = false;
  out.close = buf[at + 7] === 48; // HTTP/1.0 closes unless told otherwise
  out.needsParse = false;
  out.keptCount = 0;
  out.keptBytes = 0;
  out.statusKept = false;
  out.hasDate = false;
  // Byte loops, not Buffer#indexOf: a head's lines are short, and each native call cost more than the scan.
  let nl = at + 12;
  while (nl < end && buf[nl] !== 10) nl++;
  out.statusLineEnd = nl > at && buf[nl - 1] === 13 ? nl - 1 : nl;
  let i = out.statusLineEnd + 2;
  if (buf[at + 7] === 49 && buf[out.statusLineEnd] === 13) {
    out.statusKept = true;
    out.kept[0] = at;
    out.kept[1] = i;
    out.keptCount = 1;
  }
  const stop = end + 2; // each kept line keeps its CRLF; the last one's is the first half of CRLFCRLF
  let lengths = 0;
  while (i < stop) {
    let colon = i;
    while (colon < end && buf[colon] !== 58 && buf[colon] !== 13) colon++;
    let e = colon;
    while (e < end && buf[e] !== 13) e++;
    if (buf[e + 1] !== 10) return false;
    if (colon === e || colon === i) return false;
    const len = colon - i;
    const c = lower(buf[i]);
    let drop = false;
    const vs = trimStart(buf, colon + 1, e), ve = trimEnd(buf, vs, e);
    switch (c) {
      case 99: // c
        if (nameIs(buf, i, len, "content-length")) {
          let v = 0;
          if (vs === ve || ve - vs > 15) return false;
          for (let k = vs; k < ve; k++) { const d = buf[k] - 48; if (d < 0 || d > 9) return false; v = v * 10 + d; }
          if (lengths++ > 0 && v !== out.contentLength) return false;
          out.contentLength = v;
        } else if (nameIs(buf, i, len, "connection")) {
          drop = true;
          // Token by token: close / keep-alive set the semantics; any other token names a field to drop,
          // which the string parser handles.
          let ts = vs;
          let sawClose = false, sawKeepAlive = false;
          while (ts < ve) {
            let te = ts;
            while (te < ve && buf[te] !== 44) te++;
            const s0 = trimStart(buf, ts, te), e0 = trimEnd(buf, s0, te);
            if (nameIs(buf, s0, e0 - s0, "close")) sawClose = true;
            else if (nameIs(buf, s0, e0 - s0, "keep-alive")) sawKeepAlive = true;
            else if (e0 > s0) out.needsParse = true;
            ts = te + 1;
          }
          if (sawClose) out.close = true;
          else if (sawKeepAlive) out.close = false;
        }
        break;
      case 100: if (nameIs(buf, i, len, "date")) out.hasDate = true; break;
      case 107: drop = nameIs(buf, i, len, "keep-alive"); break;
      case 112: drop = nameIs(buf, i, len, "proxy-connection"); break;
      case 116:
        if (nameIs(buf, i, len, "transfer-encoding")) out.chunked = ve - vs >= 7 && valueHas(buf, ve - 7, ve, "chunked");
        else drop = nameIs(buf, i, len, "te") || nameIs(buf, i, len, "trailer");
        break;
      case 117: drop = nameIs(buf, i, len, "upgrade"); break;
      case 120: drop = nameIs(buf, i, len, "x-request-id"); break;
    }
    if (!drop) {
      const last = out.keptCount * 2 - 1;
      if (last > 0 && out.kept[last] === i) out.kept[last] = e + 2; // adjacent: extend the range
      else {
        if (out.keptCount === MAX_LINES) { out.needsParse = true; return true; }
        const k = out.keptCount++ * 2;
        out.kept[k] = i;
        out.kept[k + 1] = e + 2;
      }
      out.keptBytes += e + 2 - i;
    }
    i = e + 2;
  }
  if (out.chunked) out.contentLength = -1;
  return true;
}

const HTTP11 = Buffer.from("HTTP/1.1 ");

/** Bytes writeKeptHead() may write for `scan` and `extra` (an upper bound). */
export function keptHeadSize(scan: ResponseScan, extra: string): number {
  return 9 + (scan.statusLineEnd - scan.codeAt) + 2 + scan.keptBytes + extra.length + 2;
}

/**
 * The scanned head as a proxy relays it, into `out` from 0: an HTTP/1.1 status line (the upstream's
 * own when it is one, else ours before its code and reason), the kept field lines copied as bytes
 * from `src`, then `extra` ("name: value\r\n"..., latin1) and the blank line. Returns the length.
 */
export function writeKeptHead(scan: ResponseScan, src: Buffer, extra: string, out: Buffer): number {
  let pos = 0;
  if (!scan.statusKept) {
    pos = HTTP11.copy(out, 0);
    pos += src.copy(out, pos, scan.codeAt, scan.statusLineEnd);
    out[pos++] = 13; out[pos++] = 10;
  }
  const kept = scan.kept;
  for (let k = 0; k < scan.keptCount * 2; k += 2) pos += src.copy(out, pos, kept[k], kept[k + 1]);
  pos += out.write(extra, pos, "latin1");
  out[pos++] = 13; out[pos++] = 10;
  return pos;
}

let scratch = Buffer.allocUnsafe(16 * 1024);

/** Where relayed response heads are assembled, at least `size` bytes; socket writes copy, so it is reused at once. */
export function scratchOf(size: number): Buffer {
  if (scratch.length < size) scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
  return scratch;
}
