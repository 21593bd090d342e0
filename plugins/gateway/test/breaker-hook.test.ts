/** The breaker seam on the host bus: permit asked before each call, outcomes reported, services announced. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { service, startGateway, startUpstream, type Upstream } from "./fixtures";
import { freePort, type TestHost } from "../../../test/support/harness";
import type { UpstreamOutcome, GatewayServices } from "../../../src/core/bus-topics";

let t: TestHost;
let base: string;
let up: Upstream;
const deadUrl = `http://127.0.0.1:${freePort()}`;

beforeAll(async () => {
  up = startUpstream((req) => new URL(req.url).pathname.endsWith("/boom") ? new Response("x", { status: 500 }) : new Response("ok"));
  t = await startGateway(`    services:
${service("orders", "/orders", [up.url], "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n")}
${service("ghost", "/ghost", [deadUrl], "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n")}`);
  base = t.url("gateway");
});
afterAll(async () => { await t?.stop(); up?.stop(); });

test("the service list is announced on gateway.services", () => {
  let got: GatewayServices | undefined;
  t.host.bus.on("gateway.services", (p) => { got = p; }, { replay: true });
  expect(got?.services).toEqual([{ name: "orders", instances: [up.url] }, { name: "ghost", instances: [deadUrl] }]);
});

test("each upstream call is reported on upstream.outcome (status, latency, error kind)", async () => {
  const seen: UpstreamOutcome[] = [];
  const off = t.host.bus.on("upstream.outcome", (o) => seen.push(o));
  await (await fetch(`${base}/orders/ok`)).text();
  await (await fetch(`${base}/orders/boom`)).text();
  await (await fetch(`${base}/ghost/x`)).text();
  off();
  expect(seen.map((o) => [o.service, o.status, o.error])).toEqual([["orders", 200, undefined], ["orders", 500, undefined], ["ghost", 0, "connect"]]);
  expect(seen[0].latencyMs).toBeGreaterThan(0);
  expect(seen[0].instance).toBe(up.url);
});

test("an open breaker answers 503 GW_ERR_CIRCUIT_OPEN at once with Retry-After, upstream untouched", async () => {
  const asked: string[] = [];
  const withdraw = t.host.bus.provide("breaker.permit", (svc) => {
    asked.push(svc);
    return svc === "orders" ? { allowed: false, retryAfterMs: 2500, state: "open" } : { allowed: true };
  });
  try {
    const before = up.hits;
    const r = await fetch(`${base}/orders/x`);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("3");
    expect((await r.json()).error.code).toBe("GW_ERR_CIRCUIT_OPEN");
    expect(up.hits).toBe(before);
    expect(asked).toEqual(["orders"]);
  } finally {
    withdraw();
  }
  expect((await fetch(`${base}/orders/x`)).status).toBe(200);
});
