/**
 * Permit accounting for tests: every breaker permit the process granted must be settled once its
 * request is over. `expectNoOutstandingPermits` waits briefly (a request may still be finishing), then
 * fails with the breakers that still hold permits. Use it in afterEach/afterAll of fault tests.
 */
import { expect } from "bun:test";
import { outstandingByBreaker, permitLedger } from "../../plugins/breaker/permit";

export async function expectNoOutstandingPermits(waitMs = 3000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (permitLedger.outstanding !== 0 && Date.now() < deadline) await Bun.sleep(10);
  const left = permitLedger.outstanding === 0 ? {} : outstandingByBreaker();
  expect({ outstanding: permitLedger.outstanding, byBreaker: left }).toEqual({ outstanding: 0, byBreaker: {} });
}

/** Permits granted so far in this process (a test can check its traffic went through the breaker). */
export function permitsGranted(): number {
  return permitLedger.granted;
}
