/** CircuitBreakerClient against a real breaker plugin (seed usage: status → reset if open), plus failures. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, freePort, type TestHost } from "../../../test/support/harness";
import { CircuitBreakerClient, ServiceError } from "../../../src/clients/circuit-breaker-client";

let t: TestHost;
const TOKEN = "client-test-admin-token-42";

beforeAll(async () => {
  t = await startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  breaker:\n    port: 0\n    admin_token: ${TOKEN}\n    defaults: { failure_threshold: 2 }\n`);
  // A caller on the bus (the gateway would do this): two failures open "data_service".
  for (let i = 0; i < 2; i++) t.host.bus.emit("upstream.outcome", { service: "data_service", status: 503, latencyMs: 4 });
});
afterAll(async () => { await t?.stop(); });

test("seed usage: status, then reset when open", async () => {
  const cb = new CircuitBreakerClient({ baseUrl: t.url("breaker") });
  const status = await cb.getBreakerStatus("data_service");
  expect(status.state).toBe("open");
  expect(status.totals.failure).toBe(2);
  if (status.state === "open") expect((await cb.resetBreaker("data_service")).state).toBe("closed");
  expect((await cb.list()).map((b) => [b.name, b.state])).toEqual([["data_service", "closed"]]);
});

test("alerts and dashboard", async () => {
  const cb = new CircuitBreakerClient({ baseUrl: t.url("breaker"), adminToken: TOKEN });
  await cb.forceOpen("data_service", "maintenance window");
  await Bun.sleep(20);
  const alerts = await cb.alerts();
  expect(alerts).toContainEqual(expect.objectContaining({ breaker: "data_service", kind: "breaker_open", severity: "critical" }));
  expect(((await cb.dashboard()) as any).summary.forced_open).toBe(1);
  expect((await cb.forceClose("data_service")).state).toBe("closed");
});

test("errors keep the service's code; operator actions without a token are refused", async () => {
  const cb = new CircuitBreakerClient({ baseUrl: t.url("breaker"), adminToken: "" });
  const unknown = await cb.getBreakerStatus("nope").catch((e) => e);
  expect(unknown).toBeInstanceOf(ServiceError);
  expect([unknown.status, unknown.code]).toEqual([404, "BR_ERR_UNKNOWN_BREAKER"]);
  const denied = await cb.forceOpen("data_service").catch((e) => e);
  expect([denied.status, denied.code]).toEqual([401, "BR_ERR_UNAUTHORIZED"]);
});

test("no service listening: a retryable ServiceError after the configured attempts", async () => {
  const cb = new CircuitBreakerClient({ baseUrl: `http://127.0.0.1:${freePort()}`, retries: 2, timeoutMs: 500 });
  const err = await cb.list().catch((e) => e);
  expect(err).toBeInstanceOf(ServiceError);
  expect(err.status).toBe(0);
  expect(err.retryable).toBe(true);
});
