/** Address and CIDR parsing behind the trusted-proxy rule (IPv4, IPv6, mapped IPv4, garbage). */
import { describe, expect, test } from "bun:test";
import { ClientIpResolver, inCidr, parseCidr, parseIp } from "./client-ip";

describe("parseIp / CIDR", () => {
  test("IPv4 inside and outside a /8, /32 and /0", () => {
    expect(inCidr(parseIp("10.1.2.3")!, parseCidr("10.0.0.0/8"))).toBe(true);
    expect(inCidr(parseIp("11.1.2.3")!, parseCidr("10.0.0.0/8"))).toBe(false);
    expect(inCidr(parseIp("127.0.0.1")!, parseCidr("127.0.0.1"))).toBe(true);
    expect(inCidr(parseIp("127.0.0.2")!, parseCidr("127.0.0.1/32"))).toBe(false);
    expect(inCidr(parseIp("8.8.8.8")!, parseCidr("0.0.0.0/0"))).toBe(true);
  });
  test("IPv6, compressed forms and mapped IPv4 (Bun reports ::ffff:127.0.0.1)", () => {
    expect(inCidr(parseIp("::1")!, parseCidr("::1/128"))).toBe(true);
    expect(inCidr(parseIp("fd00::5")!, parseCidr("fd00::/8"))).toBe(true);
    expect(inCidr(parseIp("fe80::5")!, parseCidr("fd00::/8"))).toBe(false);
    expect(inCidr(parseIp("::ffff:127.0.0.1")!, parseCidr("127.0.0.0/8"))).toBe(true);
    expect(inCidr(parseIp("[2001:db8::1]")!, parseCidr("2001:db8::/32"))).toBe(true);
    // an IPv4 /0 does not swallow all of IPv6
    expect(inCidr(parseIp("2001:db8::1")!, parseCidr("0.0.0.0/0"))).toBe(false);
  });
  test("garbage is not an address; bad CIDRs throw", () => {
    for (const s of ["", "abc", "1.2.3", "1.2.3.256", "1:2:3", "::1::2", "1.2.3.4.5", "g::1"]) expect(parseIp(s)).toBeNull();
    for (const s of ["10.0.0.0/33", "::/129", "nope/8", "10.0.0.0/-1"]) expect(() => parseCidr(s)).toThrow();
  });
});

describe("ClientIpResolver", () => {
  const r = new ClientIpResolver(["10.0.0.0/8", "::1/128"]);
  test("untrusted peer: X-Forwarded-For ignored", () => {
    expect(r.resolve("203.0.113.5", "1.1.1.1")).toBe("203.0.113.5");
  });
  test("trusted peer: rightmost untrusted hop", () => {
    expect(r.resolve("10.0.0.1", "1.1.1.1, 2.2.2.2")).toBe("2.2.2.2");
    expect(r.resolve("::1", "1.1.1.1, 10.0.0.7")).toBe("1.1.1.1");
    expect(r.resolve("10.0.0.1", "10.0.0.8, 10.0.0.9")).toBe("10.0.0.8");
  });
  test("garbage in the chain stops the walk at the peer", () => {
    expect(r.resolve("10.0.0.1", "1.1.1.1, not-an-ip")).toBe("10.0.0.1");
  });
  test("no trusted proxies configured: always the peer", () => {
    expect(new ClientIpResolver([]).resolve("10.0.0.1", "1.1.1.1")).toBe("10.0.0.1");
  });
});
