/** The instance-address rules: canonical form, unspecified and platform ports never, allow patterns. */
import { describe, expect, test } from "bun:test";
import { checkInstanceUrl, DEFAULT_ALLOW, validAllowEntry } from "./address-policy";

const ctx = (allow: readonly string[] = DEFAULT_ALLOW) => ({ allow, platformPorts: new Set([8000, 8009]), bind: "0.0.0.0" });
const ok = (url: string, allow?: readonly string[]) => checkInstanceUrl(url, ctx(allow)).ok;

describe("checkInstanceUrl", () => {
  test("default allow: loopback and private ranges, not public, link-local or CGNAT", () => {
    for (const u of ["http://127.0.0.1:9001", "http://10.0.0.5:9001", "http://172.31.255.1:80", "http://192.168.1.1", "http://[::1]:9001", "http://[fd12::1]:80", "https://10.1.1.1:8443/"]) expect({ u, ok: ok(u) }).toEqual({ u, ok: true });
    for (const u of ["http://8.8.8.8", "http://172.32.0.1", "http://169.254.169.254", "http://100.64.0.1", "http://[2001:db8::1]", "http://[fe80::1]:80"]) expect({ u, ok: ok(u) }).toEqual({ u, ok: false });
  });

  test("platform ports on this host's addresses are refused even when allow names them", () => {
    const all = ["0.0.0.0/0", "::/0", "*:*", "localhost:*"];
    for (const u of ["http://127.0.0.1:8009", "http://127.9.9.9:8000", "http://[::1]:8009", "http://[::ffff:7f00:1]:8009", "http://localhost:8009"]) expect({ u, ok: ok(u, all) }).toEqual({ u, ok: false });
    expect(ok("http://10.0.0.9:8009")).toBe(true); // another machine's 8009 is not ours
  });

  test("allow patterns: CIDR, exact IP, host:port with * and ranges, names only when named", () => {
    expect(ok("http://203.0.113.5:80", ["203.0.113.0/24"])).toBe(true);
    expect(ok("http://203.0.114.5:80", ["203.0.113.0/24"])).toBe(false);
    expect(ok("http://127.0.0.1:9050", ["*:9000-9099"])).toBe(true);
    expect(ok("http://127.0.0.1:9100", ["*:9000-9099"])).toBe(false);
    expect(ok("http://orders.internal:8080", ["orders.internal:8080"])).toBe(true);
    expect(ok("http://orders.internal:8081", ["orders.internal:8080"])).toBe(false);
    expect(ok("http://a.svc.local:1", ["*.svc.local:*"])).toBe(true);
    expect(ok("http://svc.local.evil:1", ["*.svc.local:*"])).toBe(false);
    expect(ok("http://orders.internal:8080", ["*:*"])).toBe(false); // "*" host means any IP literal, never a name
    expect(ok("http://[::1]:9001", ["[::1]:9001"])).toBe(true);
  });

  test("refusals say why", () => {
    const r = checkInstanceUrl("http://2130706433:8009", ctx());
    expect(r).toEqual({ ok: false, reason: expect.stringContaining("canonical") });
  });

  test("allow entries validate", () => {
    for (const e of ["10.0.0.0/8", "::1/128", "127.0.0.1", "*:9000-9099", "a.b:80", "[::1]:80", "*.x.y:*"]) expect({ e, ok: validAllowEntry(e) }).toEqual({ e, ok: true });
    for (const e of ["nope", "a.b", "10.0.0.0/x/1"]) expect({ e, ok: validAllowEntry(e) }).toEqual({ e, ok: false });
  });
});
