/**
 * The one definition of the fields that belong to a single hop (RFC 9110 §7.6.1), plus the legacy names
 * proxies still see. A proxy never forwards them (nor the fields a Connection header names); `host` is
 * handled on its own. The byte-level response scan (response-scan.ts) matches the same names without
 * strings; its test holds it to this list.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** The fields that decide where a message body ends: never copied from one hop's message to another's. */
export const FRAMING_FIELDS: ReadonlySet<string> = new Set(["content-length", "transfer-encoding"]);

/** Hop-by-hop or framing: what a proxy re-creates itself when it writes a message out. */
export function isHopOrFraming(name: string): boolean {
  return HOP_BY_HOP.has(name) || FRAMING_FIELDS.has(name);
}
