import { expect, test } from "bun:test";
import { validateSecretPath, assertServiceName, decodePathParam } from "./paths";

const code = (fn: () => unknown) => { try { fn(); return "ok"; } catch (e) { return (e as { code?: string }).code; } };

test("valid secret paths are accepted and canonicalised", () => {
  expect(validateSecretPath("services/orders/db", 256)).toBe("services/orders/db");
  expect(validateSecretPath("services/orders/", 256)).toBe("services/orders");
  expect(validateSecretPath("a.b/c-d_e@f:g", 256)).toBe("a.b/c-d_e@f:g");
});

test("traversal, absolute, empty segments, control characters, backslashes and oversize are SEC_ERR_BAD_PATH", () => {
  for (const p of ["", "..", "a/../b", "./a", "a/./b", "/etc/passwd", "a//b", "a\u0000b", "a\nb", "a\u007fb", "a\\b", "a b", "x".repeat(257), "a/%2e%2e"]) {
    expect(code(() => validateSecretPath(p, 256))).toBe("SEC_ERR_BAD_PATH");
  }
});

test("malformed percent-encoding is a 400, not a crash", () => {
  expect(code(() => decodePathParam("a%zz"))).toBe("SEC_ERR_BAD_PATH");
});

test("service names", () => {
  expect(code(() => assertServiceName("trading_service"))).toBe("ok");
  for (const n of ["", "A", "-x", "a/b", "a".repeat(64), "a b"]) expect(code(() => assertServiceName(n))).toBe("SEC_ERR_BAD_SERVICE_NAME");
});
