/** Shared assertion for breaker end-to-end suites: an open breaker refuses fast and the upstream sees nothing. */
import { expect } from "bun:test";

/**
 * `call` goes through whatever asks "breaker.permit" (the real gateway or the test caller); `hits` reads the
 * upstream's request counter. Asserts a 503 GW_ERR_CIRCUIT_OPEN with Retry-After, `repeats` more refusals,
 * and no new upstream traffic throughout.
 */
export async function expectOpenRefusal(call: () => Promise<Response>, hits: () => number, repeats: number): Promise<void> {
  const before = hits();
  const refused = await call();
  expect(refused.status).toBe(503);
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect((await refused.json()).error.code).toBe("GW_ERR_CIRCUIT_OPEN");
  for (let i = 0; i < repeats; i++) expect((await call()).status).toBe(503);
  expect(hits()).toBe(before);
}
