/** The breaker seam on the host bus: permit asked before each call, each permit settled once per request, services announced. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { service, startGateway, startUpstream, type Upstream } from "./support";
import { freePort, type TestHost } from "../../../test/support/harness";
import { UNGUARDED, type Permit, type UpstreamOutcome, type UpstreamOutcomeError, type GatewayServices } from "../../../src/contracts/bus-topics";

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

/** A permit service that records every settlement (the real breaker's contract: one settle per request). */
function recordingPermits(seen: { service: string; status: number; latencyMs: number; error?: UpstreamOutcomeError; settles: number }[]) {
  return (service: string): Permit => {
    const rec = { service, status: -1, latencyMs: -1, error: undefined as UpstreamOutcomeError | undefined, settles: 0 };
    seen.push(rec);
    return { allowed: true, settle(status, latencyMs, error) { rec.settles++; if (rec.settles === 1) { rec.status = status; rec.latencyMs = latencyMs; rec.error = error; } } };
  };
}

test("each request settles its permit once with the request's outcome (status, latency, error kind); nothing on upstream.outcome", async () => {
  const seen: Parameters<typeof recordingPermits>[0] = [];
  const emitted: UpstreamOutcome[] = [];
  const off = t.host.bus.on("upstream.outcome", (o) => emitted.push(o));
  const withdraw = t.host.bus.provide("breaker.permit", recordingPermits(seen));
  try {
    await (await fetch(`${base}/orders/ok`)).text();
    await (await fetch(`${base}/orders/boom`)).text();
    await (await fetch(`${base}/ghost/x`)).text();
  } finally { withdraw(); off(); }
  expect(seen.map((o) => [o.service, o.status, o.error, o.settles])).toEqual([["orders", 200, undefined, 1], ["orders", 500, undefined, 1], ["ghost", 0, "connect", 1]]);
  expect(seen[0].latencyMs).toBeGreaterThan(0);
  expect(emitted).toEqual([]); // the per-request outcome goes to the permit, never twice through the bus
});

test("an open breaker answers 503 GW_ERR_CIRCUIT_OPEN at once with Retry-After, upstream untouched", async () => {
  const asked: string[] = [];
  const withdraw = t.host.bus.provide("breaker.permit", (svc) => {
    asked.push(svc);
    return svc === "orders" ? { allowed: false, retryAfterMs: 2500, state: "open" } : UNGUARDED;
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
