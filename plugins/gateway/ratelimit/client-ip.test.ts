/** The trusted-proxy rule: whose X-Forwarded-For is believed, and how far (parsing itself: ../ip.test.ts). */
import { describe, expect, test } from "bun:test";
import { ClientIpResolver } from "./client-ip";

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
  test("a trusted_proxies entry that is no IP or CIDR is a config error", () => {
    for (const s of ["10.0.0.0/33", "::/129", "nope/8", "10.0.0.0/-1"]) expect(() => new ClientIpResolver([s])).toThrow(/trusted_proxies/);
  });
  test("no trusted proxies configured: always the peer", () => {
    expect(new ClientIpResolver([]).resolve("10.0.0.1", "1.1.1.1")).toBe("10.0.0.1");
  });
});
