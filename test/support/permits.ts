/**
 * Permit accounting for tests: every breaker permit the process granted must be settled once its
 * request is over. `expectNoOutstandingPermits` waits briefly (a request may still be finishing), then
 * fails with the breakers that still hold permits. Use it in afterEach/afterAll of fault tests.
 */
import { expect } from "bun:test";
import { outstandingByBreaker, permitLedger } from "../../plugins/breaker/permit";

export async function expectNoOutstandingPermits(waitMs = 3000): Promise<void> {
  // Only breakers still registered count: a host an earlier test file stopped mid-request leaves its
  // permits in the process-wide tally, and they are not this test's to settle.
  const deadline = Date.now() + waitMs;
  while (Object.keys(outstandingByBreaker()).length !== 0 && Date.now() < deadline) await Bun.sleep(10);
  expect(outstandingByBreaker()).toEqual({});
}

/** Permits granted so far in this process (a test can check its traffic went through the breaker). */
export function permitsGranted(): number {
  return permitLedger.granted;
}
