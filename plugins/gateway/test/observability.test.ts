/** Metrics (checked by promtool) and the sampled JSON access log. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { gatewayConfig, load, service, startUpstream, type Upstream } from "./support";
import { freePort, startHost, type TestHost } from "../../../test/support/harness";

/** Access lines are written at level info (they follow host.log_level like every log line). */
const startGateway = (yaml: string) => startHost(gatewayConfig(yaml).replace("log_level: warn", "log_level: info"), { only: ["gateway"] });

let t: TestHost;
let base: string;
let up: Upstream;

beforeAll(async () => {
  up = startUpstream((req) => new URL(req.url).pathname.endsWith("/boom") ? new Response("x", { status: 503 }) : new Response("ok"));
  t = await startGateway(`    access_log: { sample_rate: 0 }
    services:
${service("obs", "/obs", [up.url], "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n")}
${service("nowhere", "/nowhere", [`http://127.0.0.1:${freePort()}`], "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n")}`);
  base = t.url("gateway");
  await load(20, 4, () => fetch(`${base}/obs/ok`));
  await load(3, 1, () => fetch(`${base}/obs/boom`));
  await fetch(`${base}/missing`);
  await fetch(`${base}/nowhere/x`);
});
afterAll(async () => { await t?.stop(); up?.stop(); });

test("metrics: requests by service/route/status class, latency histogram, in-flight and availability gauges", async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  expect(text).toContain('tradpal_gateway_requests_total{service="obs",route="obs",status_class="2xx"} 20');
  expect(text).toContain('tradpal_gateway_requests_total{service="obs",route="obs",status_class="5xx"} 3');
  expect(text).toContain('tradpal_gateway_requests_total{service="none",route="none",status_class="4xx"} 1');
  expect(text).toMatch(/tradpal_gateway_upstream_latency_seconds_bucket\{le="\+Inf",service="obs"\} 23/);
  expect(text).toMatch(/tradpal_gateway_upstream_latency_seconds_count\{service="obs"\} 23/);
  expect(text).toContain(`tradpal_gateway_upstream_active_requests{service="obs",instance="${up.url}"} 0`);
  expect(text).toContain(`tradpal_gateway_upstream_available{service="obs",instance="${up.url}"} 1`);
  expect(text).toContain("tradpal_gateway_retries_total");
});

test("metrics pass promtool check metrics", async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const proc = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  const code = await proc.exited;
  const ours = out.split("\n").filter((l) => l.includes("tradpal_gateway"));
  expect(ours).toEqual([]);
  expect(code).toBe(0);
});

test("access log: one JSON line per logged request; with sample_rate 0 only errors are written", async () => {
  const access = t.logs.filter((l) => l.kind === "access");
  expect(access.some((l) => l.status === 200)).toBe(false);
  const boom = access.filter((l) => l.status === 503);
  expect(boom.length).toBe(3);
  expect(boom[0]).toMatchObject({ msg: "access", method: "GET", path: "/obs/boom", service: "obs", route: "obs", instance: up.url, client: "127.0.0.1", attempts: 1 });
  expect(typeof boom[0].ms).toBe("number");
  expect(boom[0].request_id).toMatch(/^[0-9a-f-]{36}$/);
  const missing = access.find((l) => l.path === "/missing");
  expect(missing).toMatchObject({ status: 404, code: "GW_ERR_NO_ROUTE" });
  const refused = access.find((l) => l.path === "/nowhere/x");
  expect(refused).toMatchObject({ status: 502, code: "GW_ERR_PROXY_UPSTREAM_CONNECT" });
});

test("access log sampling: at most max_per_second successful requests per second", async () => {
  const t2 = await startGateway(`    access_log: { sample_rate: 1, max_per_second: 5 }
    services:
${service("obs", "/obs", [up.url], "        health_check: { enabled: false }\n")}`);
  try {
    const b = t2.url("gateway");
    const t0 = Date.now();
    await load(50, 4, () => fetch(`${b}/obs/ok`));
    const seconds = Math.floor(Date.now() / 1000) - Math.floor(t0 / 1000) + 1;
    const lines = t2.logs.filter((l) => l.kind === "access").length;
    expect(lines).toBeGreaterThanOrEqual(5);
    expect(lines).toBeLessThanOrEqual(5 * seconds);
  } finally {
    await t2.stop();
  }
});
