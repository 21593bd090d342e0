/**
 * IP literals and CIDRs, one parser for the gateway: the registry's address policy (address-policy.ts)
 * and the rate limiter's trusted-proxy rule (ratelimit/client-ip.ts). IPv4-mapped and -compatible IPv6
 * fold to IPv4, so ::ffff:127.0.0.1 (what Bun reports for an IPv4 peer on a dual-stack socket) is
 * 127.0.0.1 and an IPv4 range never matches a real IPv6 address.
 */

export type Ip = { v: 4 | 6; n: bigint };
export type Cidr = { v: 4 | 6; net: bigint; bits: number };

function parseV4(s: string): bigint | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let n = 0n;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255 || (m[i].length > 1 && m[i][0] === "0")) return undefined;
    n = (n << 8n) | BigInt(o);
  }
  return n;
}

function parseV6(s: string): bigint | undefined {
  let head = s, tail4: bigint | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const part = (x: string) => (x === "" ? [] : x.split(":"));
  const left = part(halves[0]), right = halves.length === 2 ? part(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== undefined) n = (n & ~0xffffffffn) | tail4;
  return n;
}

/** An IP literal ("10.0.0.1", "::1", "[2001:db8::1]", a zone "%eth0" dropped), or undefined. */
export function parseIp(text: string): Ip | undefined {
  let s = text.trim();
  const pct = s.indexOf("%");
  if (pct !== -1) s = s.slice(0, pct) + (s.endsWith("]") ? "]" : "");
  const v4 = parseV4(s);
  if (v4 !== undefined) return { v: 4, n: v4 };
  const v6 = parseV6(s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s);
  if (v6 === undefined) return undefined;
  const high = v6 >> 32n;
  if ((high === 0xffffn || high === 0n) && v6 > 1n) return { v: 4, n: v6 & 0xffffffffn };
  return { v: 6, n: v6 };
}

/** "10.0.0.0/8", "::1/128", or one address ("192.168.1.7": /32, /128); undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf("/");
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const width = ip.v === 4 ? 32 : 128;
  const len = slash === -1 ? "" : text.slice(slash + 1);
  const bits = slash === -1 ? width : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!Number.isInteger(bits) || bits < 0 || bits > width) return undefined;
  return { v: ip.v, net: ip.n, bits };
}

export function inCidr(ip: Ip, c: Cidr): boolean {
  if (ip.v !== c.v) return false;
  const shift = BigInt((ip.v === 4 ? 32 : 128) - c.bits);
  return ip.n >> shift === c.net >> shift;
}
