/**
 * Bulkhead and static fallbacks per service, against real upstreams on port 0: a slow upstream holds
 * the slots, so N + M + 1 concurrent calls give exactly one immediate 503; each fallback reason is
 * produced by a real fault (dead port, timeout, no instance, denied permit, full bulkhead).
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { expectNoOutstandingPermits } from "../../../test/support/permits";
import { UNGUARDED } from "../../../src/contracts/bus-topics";
import { load, service, startGateway, startUpstream, type Upstream } from "./support";
import { freePort, startHost, type TestHost } from "../../../test/support/harness";

let t: TestHost;
let base: string;
let slow: Upstream;
let inFlight = 0;
let maxInFlight = 0;
const dead = `http://127.0.0.1:${freePort()}`;
const off = "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n";

beforeAll(async () => {
  slow = startUpstream(async (req) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const ms = Number(new URL(req.url).searchParams.get("ms") ?? "300");
    await Bun.sleep(ms);
    inFlight--;
    return new Response("slow-ok");
  }, { record: false });
  const fb = (on: string, extra = "") => `        fallback:\n          status: 200\n          body: { degraded: true }\n          headers: { x-served-by: fallback }\n          on: [${on}]\n${extra}`;
  t = await startGateway(`    services:
${service("bh", "/bh", [slow.url], `${off}        bulkhead: { max_concurrent: 2, max_queue: 3, queue_timeout: 5s }\n`)}
${service("bhq", "/bhq", [slow.url], `${off}        bulkhead: { max_concurrent: 1, max_queue: 1, queue_timeout: 100ms }\n`)}
${service("fb-error", "/fb-error", [dead], off + fb("upstream_error"))}
${service("fb-timeout", "/fb-timeout", [slow.url], off + "        timeout: 100ms\n" + fb("timeout"))}
${service("fb-empty", "/fb-empty", [], off + fb("no_healthy_upstream"))}
${service("fb-open", "/fb-open", [slow.url], off + fb("circuit_open"))}
${service("fb-full", "/fb-full", [slow.url], `${off}        bulkhead: { max_concurrent: 1 }\n` + fb("bulkhead_full"))}
${service("fb-text", "/fb-text", [dead], `${off}        fallback: { status: 503, body: "try later", on: [upstream_error] }\n`)}
${service("fb-other", "/fb-other", [dead], off + fb("timeout"))}`);
  base = t.url("gateway");
});
afterAll(async () => { await t?.stop(); slow?.stop(); });
afterEach(() => expectNoOutstandingPermits()); // every request of a fault test settled its breaker permit

test("bulkhead 2 + queue 3: of 6 concurrent calls, 5 are served (never more than 2 upstream at once), exactly 1 gets 503 at once", async () => {
  maxInFlight = 0;
  const before = slow.hits;
  const started = performance.now();
  const times: number[] = [];
  const out = await load(6, 6, async () => { const r = await fetch(`${base}/bh/x?ms=300`); times.push(performance.now() - started); return r; });
  const statuses = out.map((o) => o.status).sort();
  expect(statuses).toEqual([200, 200, 200, 200, 200, 503]);
  const rejected = out.find((o) => o.status === 503)!;
  const body = JSON.parse(rejected.body);
  expect(body.error.code).toBe("GW_ERR_BULKHEAD_FULL");
  expect(body.error.message).toContain("2 calls in flight and 3 queued");
  expect(slow.hits - before).toBe(5);
  expect(maxInFlight).toBe(2);
  // The refusal did not wait for a slot: it came back before the first upstream call finished.
  expect(Math.min(...times)).toBeLessThan(290);
});

test("the 503 carries Retry-After and the request id", async () => {
  const calls = [0, 1].map(() => fetch(`${base}/bhq/x?ms=400`));
  await Bun.sleep(50);
  const third = await fetch(`${base}/bhq/x`, { headers: { "x-request-id": "bh-1" } });
  expect(third.status).toBe(503);
  expect(third.headers.get("retry-after")).toBe("1");
  expect(third.headers.get("x-request-id")).toBe("bh-1");
  expect((await third.json()).error.code).toBe("GW_ERR_BULKHEAD_FULL");
  await Promise.all(calls.map(async (c) => (await c).text()));
});

test("a queued call that waits past queue_timeout gets 503 GW_ERR_BULKHEAD_FULL", async () => {
  const first = fetch(`${base}/bhq/x?ms=500`);
  await Bun.sleep(30);
  const t0 = performance.now();
  const second = await fetch(`${base}/bhq/x?ms=10`);
  const waited = performance.now() - t0;
  expect(second.status).toBe(503);
  expect((await second.json()).error.message).toContain("freed within 100 ms");
  expect(waited).toBeGreaterThanOrEqual(90);
  expect((await first).status).toBe(200);
  // Slots were all returned: the next call goes through.
  expect((await fetch(`${base}/bhq/x?ms=1`)).status).toBe(200);
});

test("a queued call takes the slot when one frees up", async () => {
  const a = fetch(`${base}/bhq/x?ms=50`);
  await Bun.sleep(10);
  const b = await fetch(`${base}/bhq/x?ms=1`);
  expect(b.status).toBe(200);
  expect(await b.text()).toBe("slow-ok");
  expect((await a).status).toBe(200);
});

async function expectFallback(path: string, reason: string) {
  const r = await fetch(`${base}${path}`, { headers: { "x-request-id": `fb-${reason}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get("x-gateway-fallback")).toBe(reason);
  expect(r.headers.get("x-served-by")).toBe("fallback");
  expect(r.headers.get("x-request-id")).toBe(`fb-${reason}`);
  expect(r.headers.get("content-type")).toContain("application/json");
  expect(await r.json()).toEqual({ degraded: true });
}

test("fallback upstream_error: a dead instance answers the static response", () => expectFallback("/fb-error/x", "upstream_error"));
test("fallback timeout: a slow instance past the service timeout", () => expectFallback("/fb-timeout/x?ms=400", "timeout"));
test("fallback no_healthy_upstream: a service without instances", () => expectFallback("/fb-empty/x", "no_healthy_upstream"));

test("fallback circuit_open: the breaker refuses the call, upstream untouched", async () => {
  const withdraw = t.host.bus.provide("breaker.permit", (svc) => svc === "fb-open" ? { allowed: false, retryAfterMs: 1000, state: "open" } : UNGUARDED);
  try {
    const before = slow.hits;
    await expectFallback("/fb-open/x", "circuit_open");
    expect(slow.hits).toBe(before);
  } finally {
    withdraw();
  }
});

test("fallback bulkhead_full: the second concurrent call gets the static response", async () => {
  const first = fetch(`${base}/fb-full/x?ms=300`);
  await Bun.sleep(30);
  await expectFallback("/fb-full/x", "bulkhead_full");
  expect(await (await first).text()).toBe("slow-ok");
});

test("a text fallback keeps its status and is sent as text", async () => {
  const r = await fetch(`${base}/fb-text/x`);
  expect(r.status).toBe(503);
  expect(r.headers.get("content-type")).toContain("text/plain");
  expect(r.headers.get("x-gateway-fallback")).toBe("upstream_error");
  expect(await r.text()).toBe("try later");
});

test("a failure not listed in `on` still gets the coded error", async () => {
  const r = await fetch(`${base}/fb-other/x`);
  expect(r.status).toBe(502);
  expect(r.headers.get("x-gateway-fallback")).toBeNull();
  expect((await r.json()).error.code).toBe("GW_ERR_PROXY_UPSTREAM_CONNECT");
});

test("bad bulkhead / fallback settings fail config validation with their path", async () => {
  await expect(startGateway(`    services:\n${service("x", "/x", [dead], "        bulkhead: { max_concurrent: 0 }\n")}`)).rejects.toThrow(/bulkhead/);
  await expect(startGateway(`    services:\n${service("x", "/x", [dead], "        fallback: { on: [sometimes] }\n")}`)).rejects.toThrow(/fallback/);
});

test("dependsOn security: hosted together, security starts before the gateway (config order notwithstanding)", async () => {
  const both = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  gateway:\n    port: 0\n    rate_limiting: { enabled: false }\n    services: []\n  security:\n    port: 0\n    admin_token: "adm-${crypto.randomUUID()}"\n`);
  try {
    const order = [...(both.host as unknown as { running: Map<string, unknown> }).running.keys()];
    expect(order).toEqual(["security", "gateway"]);
    expect((await fetch(`${both.url("gateway")}/health`)).status).toBe(200);
  } finally {
    await both.stop();
  }
});
