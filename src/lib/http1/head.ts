/**
 * HTTP/1.1 message heads parsed straight from socket bytes (RFC 9112), for the host's raw front
 * listener and the gateway's relay. Strict where leniency lets two parsers disagree about where a
 * message ends (request smuggling): one Content-Length, only `chunked`, never both, no obs-fold,
 * no whitespace before a colon, CRLF line ends only, no control byte (0x00-0x1F but HTAB, 0x7F) in a
 * field value, only SP/HTAB trimmed around one, and one well-formed Host (host-field.ts).
 */
import { PairHeaders } from "./pair-headers";
import { hostProblem } from "./host-field";
import { BAD_VALUE_BYTE, TCHAR, fieldName } from "./field-bytes";

export const CRLFCRLF = Buffer.from("\r\n\r\n");
/** A response head larger than this is refused (the upstream is broken, or hostile). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TARGET = /^[\x21-\x7e]+$/;
/** Control bytes other than HTAB, and DEL: never in a field value (a vertical tab before `chunked`...). */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;
/** The common methods: one string each, shared by every request (no slice of the head per request). */
const KNOWN_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/** The request line's method: a shared string when it is a common one, else sliced and checked as a token. */
function methodOf(text: string, sp1: number): string {
  for (let i = 0; i < KNOWN_METHODS.length; i++) {
    const m = KNOWN_METHODS[i];
    if (m.length === sp1 && text.startsWith(m)) return m;
  }
  const method = text.slice(0, sp1);
  if (!TOKEN.test(method)) throw new MalformedHead("method is not a token");
  return method;
}

/** Why a request's body framing cannot be trusted (answered 400, connection closed). */
export type FramingProblem = "both" | "duplicate-length" | "bad-length" | "bad-transfer-encoding";

export interface RequestHead {
  method: string;
  /** The request-target as sent (origin-form for a proxy: path and query). */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  headers: PairHeaders;
  /** Bytes of the header section (field lines with their CRLF), for header size limits. */
  headerBytes: number;
  /** Content-Length, -1 when absent (or unusable: see framing). */
  contentLength: number;
  chunked: boolean;
  framing: FramingProblem | undefined;
  /** The client wants the connection kept open after this exchange. */
  keepAlive: boolean;
  /** Upgrade or Expect present: semantics a fast path must handle on purpose (or leave to Bun.serve). */
  special: boolean;
  /** The protocol asked for by Upgrade when Connection lists "upgrade" (RFC 9110 §7.8), else null. */
  upgrade: string | null;
  /** Expect present (e.g. 100-continue). */
  expect: boolean;
  /** Offset of the first byte after the head's blank line. */
  bodyStart: number;
  /** Every byte of the head is ASCII (else strings made from it must be written back as latin1, not UTF-8). */
  ascii: boolean;
  /** Filled by the listener: the whole body when it arrived with the head, else null. */
  body: Uint8Array | null;
  /** Filled by the listener: the TCP peer's address. */
  clientIp: string;
}

/** A head that is not HTTP/1.x at all: answered 400 and the connection closed. */
export class MalformedHead extends Error {
  constructor(readonly reason: string) { super(reason); this.name = "MalformedHead"; }
}

/**
 * Parse the request head in `buf[from, end)` where `end` is the index of the CRLFCRLF. Throws
 * MalformedHead for a broken request line or field line; framing problems are reported, not thrown,
 * so the caller can answer them with its own coded error.
 */
export function parseRequestHead(buf: Buffer, from: number, end: number): RequestHead {
  const text = buf.toString("latin1", from, end);
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = text.length;
  const sp1 = text.indexOf(" ");
  const sp2 = sp1 === -1 ? -1 : text.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || sp2 > lineEnd) throw new MalformedHead("request line is not 'METHOD target HTTP/1.x'");
  const method = methodOf(text, sp1);
  const target = text.slice(sp1 + 1, sp2);
  if (!TARGET.test(target)) throw new MalformedHead("request target has spaces or control characters");
  // The version compared in place: "HTTP/1.1" or "HTTP/1.0" and nothing more before the line's end.
  let minor: number;
  if (lineEnd === sp2 + 9 && text.startsWith("HTTP/1.1", sp2 + 1)) minor = 1;
  else if (lineEnd === sp2 + 9 && text.startsWith("HTTP/1.0", sp2 + 1)) minor = 0;
  else throw new MalformedHead(`unsupported protocol version "${text.slice(sp2 + 1, lineEnd).slice(0, 16)}"`);

  const pairs: string[] = [];
  let contentLength = -1;
  let lengths = 0;
  let te: string | null = null;
  let tes = 0;
  let hosts = 0;
  let host = "";
  let connection: string | null = null;
  let upgrade: string | null = null;
  let expect = false;
  let ascii = true;
  // The field section in one pass over the bytes: each line checked (token name, colon, no control
  // byte in the value, CRLF), split and named; the text is consulted only to name a fault.
  let p = from + lineEnd + 2;
  while (p < end) {
    const line = p;
    let upper = false;
    let c = 0;
    while (p < end && TCHAR[(c = buf[p])] === 1) { if (c <= 90 && c >= 65) upper = true; p++; }
    if (p === line || p === end || c !== 58 /* : */) explainFieldFault(text, line - from);
    const colon = p++;
    while (p < end && ((c = buf[p]) === 32 || c === 9)) p++;
    const valueStart = p;
    let valueEnd = p;
    while (p < end && (c = buf[p]) !== 13) {
      if (BAD_VALUE_BYTE[c] === 1) explainFieldFault(text, line - from);
      p++;
      if (c > 127) ascii = false;
      if (c !== 32 && c !== 9) valueEnd = p;
    }
    if (p < end && (p + 1 === end || buf[p + 1] !== 10)) explainFieldFault(text, line - from); // CR without LF
    const name = fieldName(buf, line, colon, text, from, upper);
    const value = text.slice(valueStart - from, valueEnd - from);
    pairs.push(name, value);
    switch (name) {
      case "content-length": lengths++; contentLength = DIGITS.test(value) ? Number(value) : -2; break;
      case "transfer-encoding": tes++; te = value; break;
      case "host": hosts++; host = value; break;
      case "connection": connection = connection === null ? value : connection + ", " + value; break;
      case "upgrade": upgrade = value; break;
      case "expect": expect = true; break;
    }
    p += 2;
  }
  if (hosts > 1) throw new MalformedHead("more than one Host header");
  if (hosts === 0 && minor === 1) throw new MalformedHead("an HTTP/1.1 request must carry a Host header (RFC 9112 §3.2)");
  if (hosts === 1) {
    const why = hostProblem(host);
    if (why !== undefined) throw new MalformedHead(why);
  }

  let framing: FramingProblem | undefined;
  let chunked = false;
  if (lengths > 0 && tes > 0) framing = "both";
  else if (lengths > 1) framing = "duplicate-length";
  else if (contentLength === -2) framing = "bad-length";
  else if (tes > 0) {
    if (tes > 1 || te!.toLowerCase() !== "chunked" || minor === 0) framing = "bad-transfer-encoding";
    else chunked = true;
  }
  if (framing !== undefined) contentLength = -1;

  let keepAlive = minor === 1;
  const special = upgrade !== null || expect;
  if (upgrade !== null && (connection === null || !/(^|[\s,])upgrade($|[\s,])/i.test(connection))) upgrade = null;
  if (connection !== null) {
    const c = connection.toLowerCase();
    if (c.indexOf("close") !== -1 && /(^|[\s,])close($|[\s,])/.test(c)) keepAlive = false;
    else if (minor === 0 && /(^|[\s,])keep-alive($|[\s,])/.test(c)) keepAlive = true;
  }
  return {
    method, target, minor, headers: new PairHeaders(pairs), headerBytes: text.length - lineEnd, contentLength, chunked, framing, keepAlive, special, upgrade, expect,
    bodyStart: end + 4, ascii, body: null, clientIp: "",
  };
}

/** The byte scan refused the field line at `from`: say what is wrong with it (or with a later one). */
function explainFieldFault(text: string, from: number): never {
  let i = from;
  const n = text.length;
  while (i < n) {
    let nl = text.indexOf("\r\n", i);
    if (nl === -1) nl = n;
    const first = text.charCodeAt(i);
    if (first === 32 || first === 9) throw new MalformedHead("obsolete line folding is not accepted");
    const colon = text.indexOf(":", i);
    if (colon === -1 || colon > nl) throw new MalformedHead("header line without a colon");
    const name = text.slice(i, colon).toLowerCase();
    if (!TOKEN.test(name)) throw new MalformedHead(`invalid header name "${name.slice(0, 40)}"`);
    if (BAD_VALUE.test(text.slice(colon + 1, nl))) throw new MalformedHead(`header "${name}" has a control character`);
    i = nl + 2;
  }
  throw new MalformedHead("malformed header section");
}

export interface ResponseHead {
  status: number;
  /** The status line without CRLF. */
  statusLine: string;
  /** Field lines as lowercased name/value pairs. */
  pairs: string[];
  contentLength: number;
  chunked: boolean;
  /** The sender will close after this response (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Extra hop-by-hop names the Connection header listed. */
  connectionTokens: string[] | undefined;
  bodyStart: number;
}

/** Parse a response head in `buf[from, end)`; throws MalformedHead when it is not one. */
export function parseResponseHead(buf: Buffer, from: number, end: number): ResponseHead {
  const text = buf.toString("latin1", from, end);
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = text.length;
  const statusLine = text.slice(0, lineEnd);
  const status = Number(statusLine.slice(9, 12));
  if (!statusLine.startsWith("HTTP/1.") || statusLine.charCodeAt(8) !== 32 || !(status >= 100 && status < 600)) throw new MalformedHead("malformed status line");
  const pairs: string[] = [];
  let contentLength = -1;
  let chunked = false;
  let close = statusLine.charCodeAt(7) === 48; // HTTP/1.0 closes unless told otherwise
  let connectionTokens: string[] | undefined;
  let i = lineEnd + 2;
  const n = text.length;
  while (i < n) {
    let nl = text.indexOf("\r\n", i);
    if (nl === -1) nl = n;
    const colon = text.indexOf(":", i);
    if (colon === -1 || colon > nl) throw new MalformedHead("response header line without a colon");
    const name = text.slice(i, colon).toLowerCase();
    const value = text.slice(colon + 1, nl).trim();
    if (name === "content-length") {
      if (!DIGITS.test(value) || (contentLength !== -1 && contentLength !== Number(value))) throw new MalformedHead("bad Content-Length in response");
      contentLength = Number(value);
    } else if (name === "transfer-encoding") {
      chunked = value.toLowerCase().endsWith("chunked");
    } else if (name === "connection") {
      const v = value.toLowerCase();
      if (v.includes("close")) close = true; else if (v.includes("keep-alive")) close = false;
      for (const t of v.split(",")) { const tok = t.trim(); if (tok && tok !== "close" && tok !== "keep-alive") (connectionTokens ??= []).push(tok); }
    }
    pairs.push(name, value);
    i = nl + 2;
  }
  if (chunked) contentLength = -1;
  return { status, statusLine, pairs, contentLength, chunked, close, connectionTokens, bodyStart: end + 4 };
}

/** True when a response to `method` with `status` carries no body whatever its headers say. */
export function responseHasNoBody(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
}
