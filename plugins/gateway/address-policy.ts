/**
 * Which instance addresses a registration may name. The URL must be plain `scheme://host[:port]`
 * written in canonical form (no userinfo, no decimal/hex/octal/short IPv4, no percent-encoding,
 * IPv6 as RFC 5952 compresses it), because the origin connection and this check must agree on the
 * address: `http://2130706433:8009` is 127.0.0.1:8009 to a URL parser. Then:
 *  - never the unspecified address (0.0.0.0/8, ::) — it reaches the host itself;
 *  - never one of the platform's own listening ports on an address of this host;
 *  - an IP literal must fall in the service's `allow` list (CIDRs or host:port patterns);
 *  - a hostname is refused unless an allow pattern names it: resolving it here and connecting
 *    later would be two lookups, which DNS rebinding can answer differently.
 */
import { networkInterfaces } from "node:os";
import { inCidr, parseCidr, parseIp, type Ip } from "./ip";

export type AddressVerdict = { ok: true; url: string } | { ok: false; reason: string };

/** Loopback and private ranges (RFC 1918, RFC 4193). Link-local (169.254/16: cloud metadata) is not in it. */
export const DEFAULT_ALLOW = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"] as const;

/** `ip` is inside the CIDR or address `range` (a malformed range matches nothing). */
function inRange(ip: Ip, range: string): boolean {
  const c = parseCidr(range);
  return c !== undefined && inCidr(ip, c);
}

/** A pattern of `allow`: a CIDR or IP ("10.0.0.0/8"), or host:port with `*` for either part and a port range "9000-9099". */
export function validAllowEntry(e: string): boolean {
  if (e.includes("/")) return parseIp(e.slice(0, e.lastIndexOf("/"))) !== undefined;
  if (parseIp(e)) return true;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.*-]+):(\*|\d{1,5}(?:-\d{1,5})?)$/.exec(e);
  return m !== null;
}

function portMatches(spec: string, port: number): boolean {
  if (spec === "*") return true;
  const [a, b] = spec.split("-").map(Number);
  return b === undefined ? port === a : port >= a && port <= b;
}

function patternMatches(entry: string, host: string, ip: Ip | undefined, port: number): boolean {
  if (entry.includes("/") || parseIp(entry)) return ip !== undefined && inRange(ip, entry);
  const colon = entry.lastIndexOf(":");
  const h = entry.slice(0, colon).toLowerCase(), p = entry.slice(colon + 1);
  if (!portMatches(p, port)) return false;
  if (h === "*") return ip !== undefined; // "*:port": any IP literal, never a name
  if (h.startsWith("*.")) return ip === undefined && host.endsWith(h.slice(1));
  const hip = parseIp(h);
  return hip && ip ? hip.v === ip.v && hip.n === ip.n : h === host;
}

/** Addresses of this machine: loopback, unspecified, the bind address, every interface. */
function localAddresses(bind: string): Ip[] {
  const out: Ip[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) { const ip = parseIp(a.address.split("%")[0]); if (ip) out.push(ip); }
  const b = parseIp(bind);
  if (b) out.push(b);
  return out;
}

function isLocal(ip: Ip, bind: string): boolean {
  if (ip.v === 4 ? inRange(ip, "127.0.0.0/8") || inRange(ip, "0.0.0.0/8") : ip.n <= 1n) return true;
  return localAddresses(bind).some((l) => l.v === ip.v && l.n === ip.n);
}

export interface AddressContext {
  /** The service's allow list (entries checked by validAllowEntry at config load). */
  allow: readonly string[];
  /** Ports of the platform's listeners (and registration.deny_ports). */
  platformPorts: ReadonlySet<number>;
  /** host.bind, which also counts as an address of this machine. */
  bind: string;
}

export function checkInstanceUrl(raw: string, c: AddressContext): AddressVerdict {
  const m = /^(https?):\/\/([^/?#\s]*)\/?$/.exec(raw);
  if (!m) return { ok: false, reason: "the url must be scheme://host[:port] (http or https, no path, query or fragment)" };
  const [, scheme, authority] = m;
  if (authority.includes("@")) return { ok: false, reason: "userinfo (user@host) is not allowed in an instance url" };
  if (authority.includes("%")) return { ok: false, reason: "percent-encoding is not allowed in an instance host" };
  const am = /^(\[[^\]]*\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!am) return { ok: false, reason: `malformed host or port in "${authority}"` };
  const host = am[1].toLowerCase();
  const port = am[2] !== undefined ? Number(am[2]) : scheme === "https" ? 443 : 80;
  if (port < 1 || port > 65535) return { ok: false, reason: `port ${am[2]} is out of range` };
  let parsed: URL;
  try { parsed = new URL(raw); } catch { return { ok: false, reason: "the url does not parse" }; }
  // What a client would connect to must be what we check: any rewrite by the URL parser is refused.
  if (parsed.hostname !== host) return { ok: false, reason: `host "${am[1]}" is not in canonical form (a URL parser reads it as "${parsed.hostname}"); write that form` };
  const ip = parseIp(host);
  if (ip === undefined && /^[0-9.]+$/.test(host)) return { ok: false, reason: `host "${host}" is not a valid IP address` };
  if (ip && (ip.v === 4 ? inRange(ip, "0.0.0.0/8") : ip.n === 0n)) return { ok: false, reason: `the unspecified address ${host} is never a valid instance` };
  if (ip && isLocal(ip, c.bind) && c.platformPorts.has(port)) return { ok: false, reason: `${host}:${port} is one of the platform's own listeners` };
  if (ip === undefined && c.platformPorts.has(port) && (host === "localhost" || host.endsWith(".localhost"))) return { ok: false, reason: `${host}:${port} is one of the platform's own listeners` };
  if (!c.allow.some((e) => patternMatches(e, host, ip, port))) {
    return { ok: false, reason: ip ? `${host}:${port} is not in this service's registration.allow list` : `hostname "${host}" is refused unless a registration.allow pattern names it (IP literals are checked against CIDRs; a name could resolve elsewhere later)` };
  }
  return { ok: true, url: `${scheme}://${am[1].toLowerCase()}${am[2] !== undefined ? ":" + am[2] : ""}` };
}
