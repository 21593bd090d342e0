/** IP literals and CIDRs: IPv4, IPv6, mapped and compatible IPv4 folded, non-canonical and garbage refused. */
import { describe, expect, test } from "bun:test";
import { inCidr, parseCidr, parseIp } from "./ip";

const cidr = (s: string) => parseCidr(s)!;

describe("parseIp", () => {
  test("folds IPv4-mapped and -compatible IPv6 to IPv4; rejects non-canonical IPv4", () => {
    expect(parseIp("[::ffff:7f00:1]")).toEqual({ v: 4, n: 0x7f000001n });
    expect(parseIp("::ffff:127.0.0.1")).toEqual({ v: 4, n: 0x7f000001n });
    expect(parseIp("::1")).toEqual({ v: 6, n: 1n });
    for (const bad of ["127.1", "0177.0.0.1", "256.0.0.1", "1.2.3", "::1::2", "12345::"]) expect(parseIp(bad)).toBeUndefined();
  });
});

describe("parseCidr / inCidr", () => {
  test("IPv4 inside and outside a /8, /32 and /0", () => {
    expect(inCidr(parseIp("10.1.2.3")!, cidr("10.0.0.0/8"))).toBe(true);
    expect(inCidr(parseIp("11.1.2.3")!, cidr("10.0.0.0/8"))).toBe(false);
    expect(inCidr(parseIp("127.0.0.1")!, cidr("127.0.0.1"))).toBe(true);
    expect(inCidr(parseIp("127.0.0.2")!, cidr("127.0.0.1/32"))).toBe(false);
    expect(inCidr(parseIp("8.8.8.8")!, cidr("0.0.0.0/0"))).toBe(true);
  });
  test("IPv6, compressed forms and mapped IPv4 (Bun reports ::ffff:127.0.0.1)", () => {
    expect(inCidr(parseIp("::1")!, cidr("::1/128"))).toBe(true);
    expect(inCidr(parseIp("fd00::5")!, cidr("fd00::/8"))).toBe(true);
    expect(inCidr(parseIp("fe80::5")!, cidr("fd00::/8"))).toBe(false);
    expect(inCidr(parseIp("::ffff:127.0.0.1")!, cidr("127.0.0.0/8"))).toBe(true);
    expect(inCidr(parseIp("[2001:db8::1]")!, cidr("2001:db8::/32"))).toBe(true);
    // an IPv4 /0 does not swallow all of IPv6
    expect(inCidr(parseIp("2001:db8::1")!, cidr("0.0.0.0/0"))).toBe(false);
  });
  test("garbage is not an address or a CIDR", () => {
    for (const s of ["", "abc", "1.2.3", "1.2.3.256", "1:2:3", "::1::2", "1.2.3.4.5", "g::1"]) expect(parseIp(s)).toBeUndefined();
    for (const s of ["10.0.0.0/33", "::/129", "nope/8", "10.0.0.0/-1", "10.0.0.0/"]) expect(parseCidr(s)).toBeUndefined();
  });
});

