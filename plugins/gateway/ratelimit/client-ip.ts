/**
 * Who is the client? The TCP peer, unless the peer is a trusted proxy: then X-Forwarded-For is read
 * right to left and the first address that is not itself a trusted proxy is the client. An untrusted
 * peer's X-Forwarded-For is ignored entirely, so a caller cannot pick its own rate-limit key.
 */

/** An address as 8 × 16-bit groups (IPv4 is mapped to ::ffff:a.b.c.d), or null when not an IP. */
export function parseIp(text: string): Uint16Array | null {
  let s = text.trim();
  if (s.startsWith("[")) s = s.slice(1, s.indexOf("]") === -1 ? undefined : s.indexOf("]"));
  const pct = s.indexOf("%");
  if (pct !== -1) s = s.slice(0, pct);
  if (s.includes(".") && !s.includes(":")) return v4ToMapped(s);
  if (!s.includes(":")) return null;
  // Embedded IPv4 tail (::ffff:1.2.3.4)
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const v4 = v4ToMapped(s.slice(lastColon + 1));
    if (!v4) return null;
    tail = [v4[6], v4[7]];
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? head.length !== 8 : fill < 1) return null;
  const groups = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...rest];
  if (groups.some((g) => Number.isNaN(g))) return null;
  const out = Uint16Array.from(groups);
  if (tail.length) { out[6] = tail[0]; out[7] = tail[1]; }
  return out;
}

function v4ToMapped(s: string): Uint16Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const b = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (b.some((x) => Number.isNaN(x) || x > 255)) return null;
  return Uint16Array.from([0, 0, 0, 0, 0, 0xffff, (b[0] << 8) | b[1], (b[2] << 8) | b[3]]);
}

export interface Cidr { net: Uint16Array; bits: number }

/** "10.0.0.0/8", "::1/128", "192.168.1.7" (a single address). Throws on nonsense (config error). */
export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split("/");
  const net = parseIp(addr);
  if (!net) throw new Error(`not an IP or CIDR: ${JSON.stringify(text)}`);
  const isV4 = addr.includes(".") && !addr.includes(":");
  const max = isV4 ? 32 : 128;
  const given = len === undefined ? max : Number(len);
  if (!Number.isInteger(given) || given < 0 || given > max) throw new Error(`bad prefix length in ${JSON.stringify(text)}`);
  return { net, bits: isV4 ? given + 96 : given };
}

export function inCidr(ip: Uint16Array, c: Cidr): boolean {
  let bits = c.bits;
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((ip[i] & mask) !== (c.net[i] & mask)) return false;
  }
  return true;
}

export class ClientIpResolver {
  private readonly cidrs: Cidr[];
  /** Peers seen so far → trusted? Bounded: peers are few (proxies, load balancers, local clients). */
  private readonly peerCache = new Map<string, boolean>();

  constructor(trusted: readonly string[]) {
    this.cidrs = trusted.map(parseCidr);
  }

  isTrusted(addr: string): boolean {
    let t = this.peerCache.get(addr);
    if (t !== undefined) return t;
    const ip = parseIp(addr);
    t = ip !== null && this.cidrs.some((c) => inCidr(ip, c));
    if (this.peerCache.size >= 4096) this.peerCache.clear();
    this.peerCache.set(addr, t);
    return t;
  }

  /** The client's address for rate limiting and logs. */
  resolve(peer: string, forwardedFor: string | null): string {
    if (!forwardedFor || this.cidrs.length === 0 || !this.isTrusted(peer)) return peer;
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim();
      if (parseIp(hop) === null) return peer; // garbage in the chain: do not trust what lies beyond it
      if (!this.isTrusted(hop)) return hop;
    }
    // Every hop is a trusted proxy: the leftmost is as close to the client as we can know.
    return hops[0].trim();
  }
}
