/**
 * Header handling at the proxy boundary: request framing checks (no smuggling), header size limit,
 * hop-by-hop stripping (RFC 9110 §7.6.1) in both directions, and the forwarding headers
 * (X-Forwarded-For/-Proto/-Host, Forwarded, X-Request-Id, traceparent).
 */

import { applyHeaderProgramToPairs, type BlockProgram, type HeaderProgram } from "../transforms";
import { PairHeaders, type HeaderView } from "../../../src/lib/http1/pair-headers";
import { HOP_BY_HOP } from "../../../src/lib/http1/hop-by-hop";
import type { FramingProblem } from "../../../src/lib/http1/head";


/** Remove hop-by-hop headers, including any the Connection header names. */
export function stripHopByHop(h: Headers): void {
  const connection = h.get("connection");
  if (connection !== null) {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name && name !== "close" && name !== "keep-alive") h.delete(name);
    }
  }
  for (const name of HOP_BY_HOP) h.delete(name);
}

/**
 * Fields a Connection header may not name (→ 400 GW_ERR_CONNECTION_NAMES_FRAMING): dropping them as
 * hop-by-hop would change how the next hop frames the message (content-length, transfer-encoding:
 * the body would be read as another request) or where it goes (host). TE stays allowed: RFC 9110
 * §10.1.4 requires "Connection: TE" beside it, and dropping it changes no framing.
 */
const CONNECTION_FORBIDDEN = new Set(["content-length", "transfer-encoding", "host"]);

/** The first field `connection` (all Connection lines joined) names that decides framing or routing, else undefined. */
export function connectionNamesFraming(connection: string): string | undefined {
  const n = connection.length;
  if (n === 5 || n === 10) { const lc = connection.toLowerCase(); if (lc === "close" || lc === "keep-alive") return undefined; }
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (CONNECTION_FORBIDDEN.has(name)) return name;
  }
  return undefined;
}


/**
 * Request smuggling guard: a request with both Content-Length and Transfer-Encoding, several
 * (or non-numeric) Content-Length values, or a Transfer-Encoding other than plain chunked is refused.
 * Headers.get joins repeated fields with ", ", so a duplicate Content-Length shows as a comma.
 */
export function framingProblem(h: Headers): FramingProblem | undefined {
  const cl = h.get("content-length");
  const te = h.get("transfer-encoding");
  if (cl !== null && te !== null) return "both";
  if (cl !== null) {
    if (cl.indexOf(",") !== -1) return "duplicate-length";
    if (!/^\d{1,15}$/.test(cl)) return "bad-length";
  }
  if (te !== null && te.trim().toLowerCase() !== "chunked") return "bad-transfer-encoding";
  return undefined;
}

/** Approximate size of the header section as sent (name: value\r\n per field). */
export function headerBytes(h: Headers): number {
  let n = 0;
  h.forEach((value, name) => { n += name.length + value.length + 4; });
  return n;
}

/** A Host for Forwarded's quoted host=: without quotes (a checked Host has none: no regex run per request). */
function unquoted(host: string): string {
  return host.indexOf('"') === -1 ? host : host.replace(/"/g, "");
}

/** Client address formatted for Forwarded (RFC 7239 quotes IPv6 in brackets). */
function forwardedFor(ip: string): string {
  return ip.indexOf(":") !== -1 ? `"[${ip}]"` : ip;
}

export interface ForwardingInfo {
  clientIp: string;
  proto: string;
  host: string | null;
  requestId: string;
  traceparent: string;
  /** Keep and extend the client's own X-Forwarded-For / Forwarded chain (behind a trusted proxy). */
  trustChain: boolean;
}

export function setForwardingHeaders(h: Headers, f: ForwardingInfo): void {
  const priorXff = f.trustChain ? h.get("x-forwarded-for") : null;
  h.set("x-forwarded-for", priorXff ? `${priorXff}, ${f.clientIp}` : f.clientIp);
  h.set("x-forwarded-proto", f.proto);
  if (f.host !== null) h.set("x-forwarded-host", f.host);
  const element = forwardedElement(f.clientIp, f.proto, f.host);
  const priorFwd = f.trustChain ? h.get("forwarded") : null;
  h.set("forwarded", priorFwd ? `${priorFwd}, ${element}` : element);
  h.set("x-request-id", f.requestId);
  h.set("traceparent", f.traceparent);
}

/** Request fields never copied verbatim into a serialised block: hop-by-hop ones and those we set. */
const BLOCK_SKIP = new Set<string>([...HOP_BY_HOP, "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id", "traceparent"]);

/**
 * The upstream request's header lines in one string, built in one pass over the client's headers:
 * the same result as copy → stripHopByHop → setForwardingHeaders (→ the route's request program),
 * without a Headers copy and a dozen mutations. Host is kept only when `preserveHost`.
 */
export function headerBlock(h: HeaderView, f: ForwardingInfo, preserveHost: boolean, program?: HeaderProgram, simple?: BlockProgram): string {
  let skipAlso: Set<string> | undefined;
  const connection = h.get("connection");
  const lc = connection === null ? "keep-alive" : connection.toLowerCase();
  if (lc !== "keep-alive" && lc !== "close") {
    for (const token of lc.split(",")) {
      const name = token.trim().toLowerCase();
      if (name && name !== "close" && name !== "keep-alive") (skipAlso ??= new Set()).add(name);
    }
  }
  const host = f.host;
  const priorXff = f.trustChain ? h.get("x-forwarded-for") : null;
  const priorFwd = f.trustChain ? h.get("forwarded") : null;
  if (program !== undefined && simple === undefined) {
    const element = forwardedElement(f.clientIp, f.proto, host);
    return programBlock(h, f, preserveHost, program, skipAlso, priorXff ? priorXff + ", " + f.clientIp : f.clientIp, priorFwd ? priorFwd + ", " + element : element);
  }
  const skip = simple?.skip;
  let out = "";
  if (h instanceof PairHeaders) {
    // The wire lane: the fields by index, no callback (nor closure) per request.
    const p = h.pairs;
    for (let i = 0; i < p.length; i += 2) if (copied(p[i], skipAlso, skip)) out += p[i] + ": " + p[i + 1] + "\r\n";
  } else {
    out = copiedLines(h, skipAlso, skip);
  }
  if (preserveHost && host !== null) out += "host: " + host + "\r\n";
  out += priorXff || priorFwd ? forwardingLines(f.clientIp, f.proto, host, priorXff, priorFwd) : sameForwardingLines(f.clientIp, f.proto, host);
  out += "x-request-id: " + f.requestId + "\r\ntraceparent: " + f.traceparent + "\r\n";
  return simple !== undefined ? out + simple.tail : out;
}

/** This hop's Forwarded element (RFC 7239). */
function forwardedElement(ip: string, proto: string, host: string | null): string {
  return "for=" + forwardedFor(ip) + ";proto=" + proto + (host !== null ? ';host="' + unquoted(host) + '"' : "");
}

/** X-Forwarded-For/-Proto/-Host and Forwarded lines, each chain extended when the client's own is trusted and present. */
function forwardingLines(ip: string, proto: string, host: string | null, priorXff: string | null, priorFwd: string | null): string {
  const element = forwardedElement(ip, proto, host);
  return "x-forwarded-for: " + (priorXff ? priorXff + ", " + ip : ip) + "\r\nx-forwarded-proto: " + proto + "\r\n" +
    (host !== null ? "x-forwarded-host: " + host + "\r\n" : "") + "forwarded: " + (priorFwd ? priorFwd + ", " + element : element) + "\r\n";
}

/**
 * The last chain-less forwarding lines made: a keep-alive client sends the same address and Host request
 * after request, so they are built once per change, not a dozen strings per request.
 */
let lastIp = "";
let lastProto = "";
let lastHost: string | null = null;
let lastLines = "";
function sameForwardingLines(ip: string, proto: string, host: string | null): string {
  if (ip === lastIp && host === lastHost && proto === lastProto && lastLines !== "") return lastLines;
  lastIp = ip;
  lastProto = proto;
  lastHost = host;
  return (lastLines = forwardingLines(ip, proto, host, null, null));
}

/** Whether a client's field goes into the block verbatim (not hop-by-hop, not ours, not removed by the route). */
function copied(name: string, skipAlso: Set<string> | undefined, skip: ReadonlySet<string> | undefined): boolean {
  return !BLOCK_SKIP.has(name) && (skipAlso === undefined || !skipAlso.has(name)) && (skip === undefined || !skip.has(name));
}

/** copied() over a Headers (the fetch lane); its own function, so the wire lane's call makes no closure scope. */
function copiedLines(h: HeaderView, skipAlso: Set<string> | undefined, skip: ReadonlySet<string> | undefined): string {
  let out = "";
  h.forEach((value, name) => { if (copied(name, skipAlso, skip)) out += name + ": " + value + "\r\n"; });
  return out;
}

/** The block with a request program applied (it may edit the forwarding fields too, as on the Headers path). */
function programBlock(h: HeaderView, f: ForwardingInfo, preserveHost: boolean, program: HeaderProgram, skipAlso: Set<string> | undefined, xff: string, fwd: string): string {
  let pairs: string[] = [];
  h.forEach((value, name) => {
    if (BLOCK_SKIP.has(name) || (skipAlso !== undefined && skipAlso.has(name))) return;
    pairs.push(name, value);
  });
  if (preserveHost && f.host !== null) pairs.push("host", f.host);
  pairs.push("x-forwarded-for", xff, "x-forwarded-proto", f.proto);
  if (f.host !== null) pairs.push("x-forwarded-host", f.host);
  pairs.push("forwarded", fwd, "x-request-id", f.requestId, "traceparent", f.traceparent);
  pairs = applyHeaderProgramToPairs(pairs, program);
  let out = "";
  for (let i = 0; i < pairs.length; i += 2) out += pairs[i] + ": " + pairs[i + 1] + "\r\n";
  return out;
}
