/**
 * Who is the client? The TCP peer, unless the peer is a trusted proxy: then X-Forwarded-For is read
 * right to left and the first address that is not itself a trusted proxy is the client. An untrusted
 * peer's X-Forwarded-For is ignored entirely, so a caller cannot pick its own rate-limit key.
 */
import { inCidr, parseCidr, parseIp, type Cidr } from "../ip";

export class ClientIpResolver {
  private readonly cidrs: Cidr[];
  /** Peers seen so far → trusted? Bounded: peers are few (proxies, load balancers, local clients). */
  private readonly peerCache = new Map<string, boolean>();

  constructor(trusted: readonly string[]) {
    this.cidrs = trusted.map((t) => {
      const c = parseCidr(t);
      if (!c) throw new Error(`rate_limiting.trusted_proxies: ${parseIp(t.split("/")[0]) ? "bad prefix length in" : "not an IP or CIDR:"} ${JSON.stringify(t)}`);
      return c;
    });
  }

  isTrusted(addr: string): boolean {
    let t = this.peerCache.get(addr);
    if (t !== undefined) return t;
    const ip = parseIp(addr);
    t = ip !== undefined && this.cidrs.some((c) => inCidr(ip, c));
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
      if (parseIp(hop) === undefined) return peer; // garbage in the chain: do not trust what lies beyond it
      if (!this.isTrusted(hop)) return hop;
    }
    // Every hop is a trusted proxy: the leftmost is as close to the client as we can know.
    return hops[0].trim();
  }
}
