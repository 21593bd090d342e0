/**
 * Issue 11 §3: failures are attributed to whoever caused them. 100 client-side aborts, stalls and
 * malformed requests (support/client-faults.ts: both lanes, fixed-length and chunked bodies, the
 * WebSocket tunnel) against a service hosted with the breaker plugin (failure_threshold 3) leave its
 * breaker closed with no failure counted, its instance available with 0 failures and never ejected,
 * and no retry spent. Then a real upstream failure (the upstream killed) still opens the breaker, so
 * the test can fail. Run once per upstream client (pooled relay, fetch()).
 * The gateway's idle timeout is 1 s here (its definition, overridden) so stalled uploads are cut fast.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import gatewayDef from "../../plugins/gateway/index";
import { startHost, type TestHost } from "../support/harness";
import { expectNoOutstandingPermits } from "../support/permits";
import { FAULTS, faultyUpstream, runFaults } from "./support/client-faults";

const FAULT_COUNT = 100;

function config(upstreamPort: number, client: string): string {
  return `
host:
  data_dir: \${DATA_DIR}
  log_level: error
plugins:
  breaker:
    port: 0
    defaults: { failure_threshold: 3, recovery_timeout: 30s, minimum_calls: 5, failure_rate_threshold: 50 }
  gateway:
    port: 0
    upstream_client: ${client}
    max_body_size: 64kb
    access_log: { enabled: false }
    rate_limiting: { enabled: false }
    retry_budget: { ratio: 0.2, min_per_second: 5, window: 1m }
    services:
      - name: faults
        path_prefix: /api
        instances: [{ url: "http://127.0.0.1:${upstreamPort}" }]
        health_check: { enabled: false, panic: false }   # the gateway's own refusal is what one test checks
        outlier: { enabled: true, consecutive_failures: 3, base_ejection: 30s }
        retries: { attempts: 2, on_status: [502, 503, 504], non_idempotent: true }
        timeout: 5s
`;
}

/** The gateway with a 1 s idle timeout: a stalled body is dropped quickly. */
const shortIdleGateway = { ...gatewayDef, serve: { ...gatewayDef.serve, idleTimeout: 1 } };

for (const client of ["pooled", "fetch"]) {
  describe(`client faults (upstream_client ${client})`, () => {
    let t: TestHost;
    let up: Server<undefined>;
    let port: number;
    const breaker = async () => (await fetch(`${t.url("breaker")}/circuit-breakers/faults`)).json();
    const service = async () => (await (await fetch(`${t.url("gateway")}/services/faults`)).json());

    beforeAll(async () => {
      up = faultyUpstream();
      t = await startHost(config(up.port!, client), { plugins: { gateway: shortIdleGateway }, only: ["gateway", "breaker"] });
      port = t.host.address("gateway")!.port;
    });
    afterAll(async () => { await t?.stop(); up?.stop(true); });
    afterEach(() => expectNoOutstandingPermits()); // every abort, stall and malformed request settled its permit

    test(`${FAULT_COUNT} client aborts, stalls and malformed requests leave the breaker closed and the instance healthy`, async () => {
      expect((await fetch(`${t.url("gateway")}/api/x`)).status).toBe(200);
      const ran = await runFaults(port, FAULT_COUNT, 10);
      expect(Object.values(ran).reduce((a, b) => a + b, 0)).toBe(FAULT_COUNT);
      expect(Object.keys(ran).length).toBe(Object.keys(FAULTS).length);
      await Bun.sleep(800); // abandoned attempts against the slow upstream settle

      const b = await breaker();
      expect(b.state).toBe("closed");
      expect(b.totals.failure).toBe(0);
      expect(b.consecutive_failures).toBe(0);
      expect(b.totals.ignored).toBeGreaterThan(0); // the abandoned attempts were reported, as neutral

      const s = await service();
      const inst = s.instances[0];
      expect(inst).toMatchObject({ available: true, healthy: true, failures: 0, ejections: 0 });
      expect(inst.ejected_until).toBeUndefined();
      expect(s.retry_budget.retries).toBe(0);

      const ok = await fetch(`${t.url("gateway")}/api/after`);
      expect(ok.status).toBe(200);
    }, 60_000);

    test("a real upstream failure still counts: each attempt against the instance (ejected), the request once against the breaker", async () => {
      up.stop(true);
      const before = (await breaker()).totals;
      // One GET: three attempts (two retries), each refused by the dead port, each counted by the instance.
      const first = await fetch(`${t.url("gateway")}/api/x`);
      expect(first.status).toBe(502);
      expect((await first.json()).error.code).toBe("GW_ERR_PROXY_UPSTREAM_CONNECT");
      const inst = (await service()).instances[0];
      expect(inst.failures).toBe(3);
      expect(inst.available).toBe(false); // ejected after 3 consecutive failures
      const b = await breaker();
      expect(b.totals.failure).toBe(before.failure + 1); // the service breaker sees the request, once
      // Nothing left to call: refused by the gateway itself, which tells the breaker nothing new (neutral).
      const next = await fetch(`${t.url("gateway")}/api/x`);
      expect(next.status).toBe(503);
      expect((await next.json()).error.code).toBe("GW_ERR_NO_HEALTHY_UPSTREAM");
      const after = (await breaker()).totals;
      expect(after.failure).toBe(before.failure + 1);
      expect(after.ignored).toBe(b.totals.ignored + 1);
      await expectNoOutstandingPermits();
    }, 20_000);
  });
}
