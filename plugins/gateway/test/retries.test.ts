/** Retries: on connect errors and configured statuses, idempotent methods only, on another instance, within a budget. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { load, service, startGateway, startUpstream, type Upstream } from "./support";
import { freePort, type TestHost } from "../../../test/support/harness";

let t: TestHost;
let base: string;
let good: Upstream;
let flaky: Upstream;
let failing: Upstream;
let failing2: Upstream;

beforeAll(async () => {
  good = startUpstream();
  flaky = startUpstream(() => new Response("busy", { status: 503 }));
  failing = startUpstream(() => new Response("down", { status: 502 }), { record: false });
  failing2 = startUpstream(() => new Response("down", { status: 502 }), { record: false });
  const noEject = "        health_check: { enabled: false }\n        outlier: { enabled: false }\n";
  t = await startGateway(`    retry_budget: { ratio: 0.1, min_per_second: 1, window: 10s }
    services:
${service("pair", "/pair", [flaky.url, good.url], noEject + "        retries: { attempts: 2, on_status: [503], backoff_base: 1ms, backoff_cap: 4ms }\n")}
${service("posty", "/posty", [flaky.url, good.url], noEject + "        retries: { attempts: 2, on_status: [503] }\n")}
${service("opted", "/opted", [flaky.url, good.url], noEject + "        retries: { attempts: 2, on_status: [503], non_idempotent: true, backoff_base: 1ms, backoff_cap: 2ms }\n")}
${service("refused", "/refused", [`http://127.0.0.1:${freePort()}`, good.url], noEject + "        retries: { attempts: 1, backoff_base: 1ms, backoff_cap: 2ms }\n")}
${service("outage", "/outage", [failing.url, failing2.url], noEject + "        retries: { attempts: 3, backoff_base: 1ms, backoff_cap: 2ms }\n")}
`);
  base = t.url("gateway");
});
afterAll(async () => { await t?.stop(); for (const u of [good, flaky, failing, failing2]) u?.stop(); });

describe("retries", () => {
  test("a GET answered 503 is retried on the other instance", async () => {
    // 10 requests → 5 land on the flaky instance first: within the budget's floor of 10 retries per window.
    const res = await load(10, 1, () => fetch(`${base}/pair/x`));
    expect(res.every((r) => r.status === 200)).toBe(true);
    expect(flaky.hits).toBeGreaterThanOrEqual(5);
  });

  test("a POST is not retried unless the route opts in", async () => {
    const statuses = (await load(10, 1, () => fetch(`${base}/posty/x`, { method: "POST" }))).map((r) => r.status);
    expect(statuses).toContain(503);
    const opted = (await load(10, 1, () => fetch(`${base}/opted/x`, { method: "POST" }))).map((r) => r.status);
    expect(opted.every((s) => s === 200)).toBe(true);
  });

  test("a POST with a body is never retried (the streamed body cannot be replayed)", async () => {
    const statuses = (await load(10, 1, () => fetch(`${base}/opted/x`, { method: "POST", body: "payload" }))).map((r) => r.status);
    expect(statuses).toContain(503);
  });

  test("a refused connection is retried on another instance", async () => {
    const res = await load(10, 1, () => fetch(`${base}/refused/x`));
    expect(res.every((r) => r.status === 200)).toBe(true);
  });

  test("the retry budget caps retries at ~10% of traffic under a failing upstream", async () => {
    const before = failing.hits + failing2.hits;
    const n = 300;
    const res = await load(n, 8, () => fetch(`${base}/outage/x`));
    expect(res.every((r) => r.status === 502)).toBe(true);
    const upstreamCalls = failing.hits + failing2.hits - before;
    const retries = upstreamCalls - n;
    // Without a budget: 3 retries each = 900. With ratio 0.1 + 1/s floor over the 10 s window: ≤ 0.1·n + 10.
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBeLessThanOrEqual(0.1 * n + 10);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/tradpal_gateway_retries_total\{service="outage",outcome="budget_exhausted"\} [1-9]\d*/);
  });
});
