/** The security plugin's /metrics pass promtool and count operations by outcome. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startSecurity, run, type SecurityHarness } from "./support";

let s: SecurityHarness;
beforeAll(async () => { s = await startSecurity(``); });
afterAll(async () => { await s?.stop(); });

test("operations, cache, revocations and keys are exported and promtool accepts the text", async () => {
  await fetch(`${s.base}/credentials/orders`, { method: "POST", headers: s.auth() });
  await fetch(`${s.base}/credentials/orders/revoke`, { method: "POST", headers: s.auth() });
  await fetch(`${s.base}/secrets/services/orders/x`, { headers: { authorization: "Bearer nope" } });
  const text = await (await fetch(`${s.base}/metrics`)).text();
  expect(text).toContain('tradpal_security_operations_total{op="credentials.issue",outcome="ok"} 1');
  expect(text).toContain('tradpal_security_operations_total{op="credentials.revoke",outcome="ok"} 1');
  expect(text).toContain("tradpal_security_revoked_certificates 1");
  expect(text).toContain('tradpal_security_operations_total{op="secret.read",outcome="denied"} 1');
  expect(text).toContain("tradpal_security_signing_keys 1");
  expect(text).toMatch(/tradpal_security_ca_expiry_timestamp_seconds \d+/);
  const check = await run(["promtool", "check", "metrics"], text);
  expect(check.err + check.out).toBe("");
  expect(check.code).toBe(0);
});
