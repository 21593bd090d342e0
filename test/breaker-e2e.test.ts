/**
 * End to end: a real upstream on port 0 starts failing behind a caller that follows the gateway's
 * breaker contract (test/support/caller-plugin.ts); the breaker plugin trips, refuses fast, probes,
 * re-opens, closes. Also: alerts, events, webhooks, metrics (promtool), operator actions, reload.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startHost, freePort, type TestHost } from "./support/harness";
import { callerPlugin } from "./support/caller-plugin";
import { expectOpenRefusal } from "./support/breaker-expect";
import { echoPlugin } from "./plugins/echo";
import type { PlatformEvent } from "../src/contracts/bus-topics";

function controllableUpstream() {
  const state = { status: 200, hits: 0 };
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => { state.hits++; return Response.json({ ok: state.status < 400 }, { status: state.status }); } });
  return { state, server, url: `http://127.0.0.1:${server.port}` };
}

function webhookReceiver() {
  const received: any[] = [];
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(req) { received.push(await req.json()); return new Response(null, { status: 204 }); } });
  return { received, server, url: `http://127.0.0.1:${server.port}/hook` };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) { if (await cond()) return; await Bun.sleep(10); }
  throw new Error(`timed out waiting for ${what}`);
}

const TOKEN = "test-admin-token-0123456789";

function yaml(up: string, dead: string, hook: string, threshold = 3, extra = "") {
  return `
host:
  data_dir: \${DATA_DIR}
plugins:
  breaker:
    port: 0
    admin_token: ${TOKEN}
    defaults:
      failure_threshold: ${threshold}
      minimum_calls: 20
      recovery_timeout: 300ms
      recovery_backoff_multiplier: 2
      max_recovery_timeout: 5s
      half_open_max_calls: 2
    webhooks: ["${hook}"]
    webhook_timeout: 1s
    tick_interval: 50ms
  caller:
    port: 0
    services:
      - { name: orders, url: "${up}" }
      - { name: ghost, url: "${dead}" }
${extra}`;
}

describe("breaker behind a gateway-contract caller", () => {
  let t: TestHost;
  let up: ReturnType<typeof controllableUpstream>;
  let hook: ReturnType<typeof webhookReceiver>;
  const events: PlatformEvent[] = [];
  let deadUrl: string;
  const call = (svc = "orders") => fetch(`${t.url("caller")}/call/${svc}/x`);
  const api = (path: string, init?: RequestInit) => fetch(`${t.url("breaker")}${path}`, init);

  beforeAll(async () => {
    up = controllableUpstream();
    hook = webhookReceiver();
    deadUrl = `http://127.0.0.1:${freePort()}`;
    t = await startHost(yaml(up.url, deadUrl, hook.url), { plugins: { caller: callerPlugin, echo: echoPlugin } });
    t.host.bus.on("platform.event", (e) => events.push(e));
  });
  afterAll(async () => { await t?.stop(); up?.server.stop(true); hook?.server.stop(true); });

  test("breakers are created from the announced services", async () => {
    const body = await (await api("/circuit-breakers")).json();
    expect(body.breakers.map((b: any) => b.name).sort()).toEqual(["ghost", "orders"]);
    expect(body.breakers.every((b: any) => b.state === "closed" && b.source === "gateway")).toBe(true);
  });

  test("trips at the threshold, refuses fast with 503 + Retry-After and no upstream traffic", async () => {
    expect((await call()).status).toBe(200);
    up.state.status = 500;
    for (let i = 0; i < 3; i++) expect((await call()).status).toBe(500);
    await expectOpenRefusal(call, () => up.state.hits, 20);

    const detail = await (await api("/circuit-breakers/orders")).json();
    expect(detail.state).toBe("open");
    expect(detail.totals.rejected).toBe(21);
    expect(Date.parse(detail.next_half_open_at)).toBeGreaterThan(Date.now());
    expect(detail.transitions[0]).toMatchObject({ from: "closed", to: "open", origin: "traffic" });
    expect(detail.transitions[0].reason).toContain("3 consecutive failures");
  });

  test("an open breaker raises a critical alert, a breaker.opened event and a webhook", async () => {
    const alerts = await (await api("/alerts")).json();
    expect(alerts.alerts).toContainEqual(expect.objectContaining({ breaker: "orders", kind: "breaker_open", severity: "critical" }));
    expect(Date.parse(alerts.alerts[0].since)).toBeLessThanOrEqual(Date.now());
    expect(events.some((e) => e.type === "breaker.opened" && e.source === "breaker" && e.payload.breaker === "orders")).toBe(true);
    await until(() => hook.received.some((b) => b.type === "breaker.opened") && hook.received.some((b) => b.type === "breaker.alert"), 3000, "webhooks");
  });

  test("after the recovery timeout a failing trial re-opens it with a longer timeout", async () => {
    await until(async () => (await (await api("/circuit-breakers/orders")).json()).state === "half_open", 2000, "half-open");
    expect((await call()).status).toBe(500); // the trial reaches the upstream, fails
    const d = await (await api("/circuit-breakers/orders")).json();
    expect(d.state).toBe("open");
    expect(d.transitions[0].reason).toContain("trial calls failed");
    expect(Date.parse(d.next_half_open_at) - Date.now()).toBeGreaterThan(350); // 600ms second time
    expect(d.policy.next_recovery_timeout_ms).toBe(1200);
  });

  test("trial calls against a healthy upstream close it", async () => {
    up.state.status = 200;
    await until(async () => (await call()).status === 200, 3000, "a trial call");
    expect((await call()).status).toBe(200);
    const d = await (await api("/circuit-breakers/orders")).json();
    expect(d.state).toBe("closed");
    expect(d.transitions[0].reason).toContain("2 trial calls succeeded");
    await until(async () => (await (await api("/alerts")).json()).alerts.length === 0, 2000, "alert resolved");
    expect(events.some((e) => e.type === "breaker.closed")).toBe(true);
    await until(() => hook.received.some((b) => b.type === "breaker.closed") && hook.received.some((b) => b.type === "breaker.alert_resolved"), 3000, "webhooks");
  });

  test("connect errors count as failures", async () => {
    for (let i = 0; i < 3; i++) expect((await call("ghost")).status).toBe(502);
    expect((await call("ghost")).status).toBe(503);
    expect((await (await api("/circuit-breakers/ghost")).json()).state).toBe("open");
  });

  test("4xx does not count as a failure by default", async () => {
    up.state.status = 404;
    for (let i = 0; i < 10; i++) expect((await call()).status).toBe(404);
    const d = await (await api("/circuit-breakers/orders")).json();
    expect(d.state).toBe("closed");
    expect(d.window.failures).toBe(0);
    up.state.status = 200;
  });

  test("metrics follow Prometheus conventions (promtool)", async () => {
    const text = await (await api("/metrics")).text();
    expect(text).toContain('tradpal_breaker_state{breaker="orders",state="closed"} 1');
    expect(text).toContain('tradpal_breaker_state{breaker="ghost",state="open"} 1');
    expect(text).toMatch(/tradpal_breaker_transitions_total\{breaker="orders",from="closed",to="open"\} 1/);
    expect(text).toMatch(/tradpal_breaker_calls_total\{breaker="orders",outcome="failure"\} [1-9]/);
    const rejected = (await (await api("/circuit-breakers/orders")).json()).totals.rejected;
    expect(rejected).toBeGreaterThanOrEqual(21);
    expect(text).toContain(`tradpal_breaker_rejected_calls_total{breaker="orders"} ${rejected}`);
    expect(text).toContain("tradpal_breaker_window_failure_ratio");
    const proc = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text.split("\n").filter((l) => l.includes("tradpal_breaker_") || l === "").join("\n")), stdout: "pipe", stderr: "pipe" });
    const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    expect(await proc.exited).toBe(0);
    expect(out).toBe("");
  });

  test("bad input: unknown breaker 404, bad name 400, coded JSON bodies", async () => {
    const r404 = await api("/circuit-breakers/nope");
    expect(r404.status).toBe(404);
    expect((await r404.json()).error.code).toBe("BR_ERR_UNKNOWN_BREAKER");
    const r400 = await api("/circuit-breakers/" + encodeURIComponent("bad name!"));
    expect(r400.status).toBe(400);
    expect((await r400.json()).error.code).toBe("BR_ERR_BAD_NAME");
    const bodyBad = await api("/circuit-breakers/orders/reset", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reason: 5 }) });
    expect(bodyBad.status).toBe(400);
    expect((await bodyBad.json()).error.code).toBe("BR_ERR_VALIDATION");
    const notJson = await api("/circuit-breakers/orders/reset", { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe("BR_ERR_PARSE");
  });

  test("force open/close and disable need the admin token; reset does not", async () => {
    const noToken = await api("/circuit-breakers/orders/force-open", { method: "POST" });
    expect(noToken.status).toBe(401);
    expect((await noToken.json()).error.code).toBe("BR_ERR_UNAUTHORIZED");
    const wrong = await api("/circuit-breakers/orders/force-open", { method: "POST", headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const forced = await api("/circuit-breakers/orders/force-open", { method: "POST", headers: auth, body: JSON.stringify({ reason: "maintenance" }) });
    expect(await forced.json()).toMatchObject({ state: "forced_open", previous_state: "closed" });
    expect((await call()).status).toBe(503);
    expect((await (await api("/circuit-breakers/orders")).json()).transitions[0]).toMatchObject({ to: "forced_open", reason: "maintenance", origin: "operator" });
    expect((await (await api("/circuit-breakers/orders/disable", { method: "POST", headers: auth })).json()).state).toBe("disabled");
    expect((await (await api("/circuit-breakers/orders/force-close", { method: "POST", headers: auth })).json()).state).toBe("closed");
    const reset = await api("/circuit-breakers/ghost/reset", { method: "POST" });
    expect(await reset.json()).toMatchObject({ name: "ghost", previous_state: "open", state: "closed" });
  });

  test("dashboard: JSON by default, HTML for browsers, SSE stream", async () => {
    const json = await (await api("/dashboard")).json();
    expect(json.summary.total).toBe(2);
    expect(json.mode).toBe("embedded");
    const html = await api("/dashboard", { headers: { accept: "text/html" } });
    expect(html.headers.get("content-type")).toContain("text/html");
    const page = await html.text();
    expect(page).toContain("EventSource");
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    const ctrl = new AbortController();
    const sse = await api("/dashboard/stream", { signal: ctrl.signal });
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const reader = sse.body!.getReader();
    let text = "";
    while (!text.includes("event: snapshot")) text += new TextDecoder().decode((await reader.read()).value);
    ctrl.abort();
  });

  test("a reload keeps breaker state and applies new thresholds", async () => {
    up.state.status = 500;
    expect((await call()).status).toBe(500);
    const r = await t.rewrite(yaml(up.url, deadUrl, hook.url, 2));
    expect(r.ok).toBe(true);
    expect((await (await api("/circuit-breakers/orders")).json()).consecutive_failures).toBe(1);
    expect((await call()).status).toBe(500); // 2nd consecutive: the new threshold
    const d = await (await api("/circuit-breakers/orders")).json();
    expect(d.state).toBe("open");
    expect(d.policy.failure_threshold).toBe(2);
    // Exactly one transition counted although two instances overlapped during the swap.
    expect(d.transitions.filter((x: any) => x.to === "open" && x.reason.includes("2 consecutive")).length).toBe(1);
    up.state.status = 200;
  });

  test("a reload that is rolled back (another plugin fails to start) leaves the running thresholds and wiring alone", async () => {
    await api("/circuit-breakers/orders/reset", { method: "POST" });
    const r = await t.rewrite(yaml(up.url, deadUrl, hook.url, 9, "  echo:\n    port: 0\n    fail_start: true\n"));
    expect(r.ok).toBe(false);
    const d = await (await api("/circuit-breakers/orders")).json();
    expect(d.policy.failure_threshold).toBe(2);
    // Still wired to the bus: outcomes are counted and the gateway-side permit still refuses when open.
    up.state.status = 500;
    for (let i = 0; i < 2; i++) expect((await call()).status).toBe(500);
    expect((await call()).status).toBe(503);
    up.state.status = 200;
    await api("/circuit-breakers/orders/reset", { method: "POST" });
  });
});

describe("admin token file", () => {
  test("generated 0600 under data_dir when none is configured, and reused", async () => {
    const t = await startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  breaker:\n    port: 0\n`);
    try {
      const file = join(t.dir, "data", "breaker", "admin-token");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(JSON.stringify(t.logs)).not.toContain(token);
      expect(t.logs.some((l) => l.file === file)).toBe(true);
      const r = await fetch(`${t.url("breaker")}/circuit-breakers/x/force-open`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(404); // authorised but unknown
    } finally { await t.stop(); }
  });

  test("a policy that can never trip is refused at load with its place", async () => {
    await expect(startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  breaker:\n    port: 0\n    defaults: { failure_threshold: 0, failure_rate_threshold: 0 }\n`)).rejects.toThrow(/plugins.breaker.defaults/);
    await expect(startHost(`host:\n  data_dir: \${DATA_DIR}\nplugins:\n  breaker:\n    port: 0\n    services: { "bad name": { failure_threshold: 2 } }\n`)).rejects.toThrow(/"bad name" is not a breaker name/);
  });
});

describe("per-service policies, slow calls and webhook retries", () => {
  let t: TestHost;
  const slow = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async () => { await Bun.sleep(60); return new Response("slow but fine"); } });
  const flaky = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("x", { status: 503 }) });
  let hookCalls = 0;
  const hookBodies: any[] = [];
  // Fails twice, then accepts: the notifier's retries must get each message through.
  const hook = Bun.serve({ port: 0, hostname: "127.0.0.1", async fetch(req) { hookCalls++; const body = await req.json(); if (hookCalls <= 2) return new Response("busy", { status: 503 }); hookBodies.push(body); return new Response(null, { status: 204 }); } });

  beforeAll(async () => {
    t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  breaker:
    port: 0
    defaults: { failure_threshold: 10, minimum_calls: 100 }
    services:
      sluggish: { slow_call_duration: 40ms, slow_call_rate_threshold: 100, minimum_calls: 3, window_type: time, window_size: 30 }
      fragile: { failure_threshold: 1 }
    webhooks: ["http://127.0.0.1:${hook.port}/hook"]
  caller:
    port: 0
    services:
      - { name: sluggish, url: "http://127.0.0.1:${slow.port}" }
      - { name: fragile, url: "http://127.0.0.1:${flaky.port}" }
`, { plugins: { caller: callerPlugin } });
  });
  afterAll(async () => { await t?.stop(); slow.stop(true); flaky.stop(true); hook.stop(true); });

  test("a service's override applies to it alone", async () => {
    expect((await fetch(`${t.url("caller")}/call/fragile/x`)).status).toBe(503);
    const d = await (await fetch(`${t.url("breaker")}/circuit-breakers/fragile`)).json();
    expect(d.state).toBe("open");
    expect(d.policy.failure_threshold).toBe(1);
    expect((await (await fetch(`${t.url("breaker")}/circuit-breakers/sluggish`)).json()).policy.failure_threshold).toBe(10);
  });

  test("calls slower than slow_call_duration open the breaker at the slow-call rate (time window)", async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${t.url("caller")}/call/sluggish/x`)).status).toBe(200);
    const d = await (await fetch(`${t.url("breaker")}/circuit-breakers/sluggish`)).json();
    expect(d.state).toBe("open");
    expect(d.window.type).toBe("time");
    expect(d.transitions[0].reason).toContain("slow-call rate 100.0%");
  });

  test("a webhook that answers 503 is retried until it takes the message", async () => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !hookBodies.some((b) => b.type === "breaker.opened" && b.breaker === "fragile")) await Bun.sleep(20);
    expect(hookBodies.some((b) => b.type === "breaker.opened" && b.breaker === "fragile")).toBe(true);
    expect(hookCalls).toBeGreaterThan(hookBodies.length);
  });
});
