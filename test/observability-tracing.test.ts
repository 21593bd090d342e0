/**
 * Tracing through the gateway and the events plugin, exported over OTLP/HTTP to a test receiver
 * (test/support/otlp-receiver.ts): a client's request with a traceparent goes through the gateway to an
 * upstream that publishes an event to the events plugin, passing on the traceparent it got (as any
 * instrumented service does). One trace must come out: the gateway's server span under the client's span,
 * its route/auth/rate-limit/breaker spans and the upstream attempt under it, and the events plugin's
 * publish + store spans under that attempt. Also: tracestate passes through, the access log line carries
 * the trace id, sampling follows the caller's flag and the ratio, and with tracing off nothing is sent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort, startHost, tempDir, type TestHost } from "./support/harness";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver";

let receiver: OtlpReceiver;
let eventsUrl = "";
/** What the upstream saw of each request: its trace headers. */
const seen: { traceparent: string | null; tracestate: string | null }[] = [];
const upstream = Bun.serve({
  port: 0, hostname: "127.0.0.1",
  async fetch(req) {
    const traceparent = req.headers.get("traceparent"), tracestate = req.headers.get("tracestate");
    seen.push({ traceparent, tracestate });
    const path = new URL(req.url).pathname;
    if (path === "/health") return new Response("ok");
    if (path === "/fail") return new Response("broken", { status: 500 });
    // The trading service publishes an event, passing its trace context on.
    const res = await fetch(`${eventsUrl}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(traceparent ? { traceparent } : {}), ...(tracestate ? { tracestate } : {}) },
      body: JSON.stringify({ type: "custom.order_noted", source: "trading", payload: { orderId: "o-1" } }),
    });
    return new Response(await res.text(), { status: res.status, headers: { "content-type": "application/json" } });
  },
});

function config(tracing: string): string {
  return `host:
  data_dir: \${DATA_DIR}
  log_level: info
${tracing}
plugins:
  events: { port: 0 }
  security: { port: 0, admin_token: tracing-test-security-admin-0123456789 }
  breaker: { port: 0, admin_token: tracing-test-admin-token }
  gateway:
    port: 0
    access_log: { enabled: true, sample_rate: 1 }
    services:
      - name: trading
        path_prefix: /api/trading
        strip_prefix: true
        instances: [{ url: "http://127.0.0.1:${upstream.port}" }]
        health_check: { enabled: false }
`;
}

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

describe("tracing on (sample_ratio 1)", () => {
  let t: TestHost;
  beforeAll(async () => {
    receiver = startOtlpReceiver();
    t = await startHost(config(`  tracing: { endpoint: "${receiver.url}", flush_interval: 100ms }`), { only: ["events", "security", "breaker", "gateway"] });
    eventsUrl = t.url("events");
  });
  afterAll(async () => { await t?.stop(); receiver?.stop(); });

  test("one trace across the client, the gateway, the upstream and the events plugin", async () => {
    seen.length = 0;
    const res = await fetch(`${t.url("gateway")}/api/trading/orders`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: "vendor=abc,other=1" } });
    expect(res.status).toBe(201);
    const spans = (await receiver.waitFor((s) => s.some((x) => x.name === "events.store") && s.some((x) => x.name.startsWith("gateway GET")))).filter((s) => s.traceId === CLIENT_TRACE);

    const server = spans.find((s) => s.name === "gateway GET trading")!;
    expect(server).toBeDefined();
    expect(server.service).toBe("tradpal-gateway");
    expect(server.kind).toBe(2);
    expect(server.parentSpanId).toBe(CLIENT_SPAN);
    expect(server.attributes).toMatchObject({ "http.request.method": "GET", "http.response.status_code": 201, "tradpal.service": "trading", "tradpal.attempts": 1 });
    for (const name of ["gateway.route", "gateway.auth", "gateway.rate_limit", "gateway.breaker", "gateway.upstream"]) {
      const [s] = byName(spans, name);
      expect(s, name).toBeDefined();
      expect(s.parentSpanId, name).toBe(server.spanId);
    }
    expect(byName(spans, "gateway.breaker")[0].attributes["tradpal.breaker.verdict"]).toBe("permitted");
    const attempt = byName(spans, "gateway.upstream")[0];
    expect(attempt.kind).toBe(3);
    expect(attempt.attributes).toMatchObject({ "tradpal.attempt": 1, "server.address": `http://127.0.0.1:${upstream.port}`, "http.response.status_code": 201 });

    // The upstream got the attempt's span as its parent, and the client's tracestate unchanged.
    expect(seen[0].traceparent).toBe(`00-${CLIENT_TRACE}-${attempt.spanId}-01`);
    expect(seen[0].tracestate).toBe("vendor=abc,other=1");

    const publish = byName(spans, "events.publish")[0];
    expect(publish.service).toBe("tradpal-events");
    expect(publish.parentSpanId).toBe(attempt.spanId);
    expect(publish.attributes).toMatchObject({ "http.response.status_code": 201, "event.type": "custom.order_noted" });
    expect(byName(spans, "events.store")[0].parentSpanId).toBe(publish.spanId);
    // Every span of the request is in the client's trace, and times nest: the server span covers its children.
    for (const s of spans) expect(s.end >= s.start).toBe(true);
    expect(attempt.start >= server.start && attempt.end <= server.end).toBe(true);

    const access = t.logs.find((l) => l.msg === "access" && l.path === "/api/trading/orders");
    expect(access?.trace_id).toBe(CLIENT_TRACE);
  });

  test("a request without traceparent starts a trace; an upstream 500 marks the attempt and the request as errors", async () => {
    const before = receiver.spans.length;
    expect((await fetch(`${t.url("gateway")}/api/trading/fail`)).status).toBe(500);
    const spans = (await receiver.waitFor((s) => s.slice(before).some((x) => x.name === "gateway GET trading"))).slice(before);
    const server = spans.find((s) => s.name === "gateway GET trading")!;
    expect(server.parentSpanId).toBeUndefined();
    expect(server.traceId).not.toBe(CLIENT_TRACE);
    expect(server.status).toEqual({ code: 2, message: "HTTP 500" });
    const attempt = spans.find((s) => s.name === "gateway.upstream" && s.traceId === server.traceId)!;
    expect(attempt.status.code).toBe(2);
    expect(attempt.attributes["http.response.status_code"]).toBe(500);
  });
  test("security and breaker work: a span per request (a secret's path never recorded), a span per breaker transition", async () => {
    const trace = "5e1f0c2b9a8d7e6f5e1f0c2b9a8d7e6f";
    const tp = `00-${trace}-a1b2c3d4e5f60718-01`;
    expect((await fetch(`${t.url("security")}/tokens/validate`, { method: "POST", headers: { traceparent: tp, "content-type": "application/json" }, body: JSON.stringify({ token: "not-a-jwt" }) })).status).toBeLessThan(500);
    expect((await fetch(`${t.url("security")}/secrets/very/secret-name`, { headers: { traceparent: tp, authorization: "Bearer tracing-test-security-admin-0123456789" } })).status).toBe(404);
    const forced = await fetch(`${t.url("breaker")}/circuit-breakers/trading/force-open`, { method: "POST", headers: { traceparent: tp, authorization: "Bearer tracing-test-admin-token" } });
    expect(forced.status).toBe(200);
    await fetch(`${t.url("breaker")}/circuit-breakers/trading/reset`, { method: "POST", headers: { authorization: "Bearer tracing-test-admin-token" } });
    const spans = await receiver.waitFor((s) => s.filter((x) => x.name === "breaker.transition").length >= 2 && s.some((x) => x.name === "breaker POST /circuit-breakers/trading/*"));
    const mine = spans.filter((s) => s.traceId === trace && s.name !== "breaker.transition");
    expect(mine.map((s) => s.name).sort()).toEqual(["breaker POST /circuit-breakers/trading/*", "security GET /secrets/*", "security POST /tokens/validate"]);
    for (const s of mine) expect(s.parentSpanId).toBe("a1b2c3d4e5f60718");
    expect(JSON.stringify(spans, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain("secret-name");
    const transition = spans.find((s) => s.name === "breaker.transition" && s.attributes["tradpal.breaker.to"] === "forced_open")!;
    expect(transition.attributes).toMatchObject({ "tradpal.breaker": "trading", "tradpal.breaker.from": "closed", "tradpal.breaker.origin": "operator" });
    // The operator's request caused it: the transition hangs under that request's span, in the caller's trace.
    expect(transition.traceId).toBe(trace);
    expect(transition.parentSpanId).toBe(mine.find((s) => s.name.startsWith("breaker POST"))!.spanId);
  });
});

describe("sampling and off", () => {
  test("ratio 0: a new trace is not recorded and goes on unsampled (flags 00); a caller's sampled flag is followed", async () => {
    const r = startOtlpReceiver();
    const t = await startHost(config(`  tracing: { endpoint: "${r.url}", sample_ratio: 0, flush_interval: 50ms }`), { only: ["events", "breaker", "gateway"] });
    try {
      eventsUrl = t.url("events");
      seen.length = 0;
      expect((await fetch(`${t.url("gateway")}/api/trading/a`)).status).toBe(201);
      expect(seen[0].traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      // A caller's unsampled trace goes on unsampled, in the caller's trace.
      await fetch(`${t.url("gateway")}/api/trading/c`, { headers: { traceparent: `00-${"ab".repeat(16)}-${CLIENT_SPAN}-00` } });
      expect(seen.at(-1)!.traceparent).toMatch(new RegExp(`^00-${"ab".repeat(16)}-[0-9a-f]{16}-00$`));
      await fetch(`${t.url("gateway")}/api/trading/b`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } });
      await r.waitFor((s) => s.some((x) => x.name === "events.store"));
      await Bun.sleep(200);
      expect(new Set(r.spans.map((s) => s.traceId))).toEqual(new Set([CLIENT_TRACE]));
    } finally {
      await t.stop();
      r.stop();
    }
  });

  test("no endpoint: no spans, the traceparent minted as before; the access log still names the caller's trace (no span)", async () => {
    const r = startOtlpReceiver();
    const t = await startHost(config(""), { only: ["events", "breaker", "gateway"] });
    try {
      eventsUrl = t.url("events");
      seen.length = 0;
      expect((await fetch(`${t.url("gateway")}/api/trading/a`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } })).status).toBe(201);
      expect(seen[0].traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`));
      await Bun.sleep(300);
      expect(r.requests).toBe(0);
      const access = t.logs.find((l) => l.msg === "access");
      expect(access).toBeDefined();
      expect(access!.trace_id).toBe(CLIENT_TRACE); // the request's context (src/core/request-context.ts), tracing or not
      expect(access!.span_id).toBeUndefined();
    } finally {
      await t.stop();
      r.stop();
    }
  });
});

describe("split across processes (--only gateway, --only events)", () => {
  const dir = tempDir("tradpal-trace-split-");
  const ports = { gateway: freePort(), events: freePort() };
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  let r: OtlpReceiver;
  beforeAll(async () => {
    r = startOtlpReceiver();
    writeFileSync(join(dir, "config.yaml"), config(`  bind: 127.0.0.1\n  tracing: { endpoint: "${r.url}", flush_interval: 100ms }`)
      .replace("${DATA_DIR}", join(dir, "data")).replace("events: { port: 0 }", `events: { port: ${ports.events} }`)
      .replace(/gateway:\n    port: 0/, `gateway:\n    port: ${ports.gateway}`).replace(/  breaker: .*\n/, ""));
    for (const id of ["gateway", "events"] as const) {
      procs.push(Bun.spawn(["bun", "run", join(import.meta.dir, "../src/main.ts"), "--config", join(dir, "config.yaml"), "--only", id], {
        cwd: join(import.meta.dir, ".."), env: { ...process.env, REDIS_URL: "", TRADPAL_PLATFORM: `trace-split-${process.pid}` }, stdout: "ignore", stderr: "ignore",
      }));
    }
    const deadline = Date.now() + 20_000;
    for (const port of Object.values(ports)) {
      while (!(await fetch(`http://127.0.0.1:${port}/health`).then((x) => x.ok, () => false))) {
        if (Date.now() > deadline) throw new Error(`port ${port} did not come up`);
        await Bun.sleep(100);
      }
    }
    eventsUrl = `http://127.0.0.1:${ports.events}`;
  });
  afterAll(async () => {
    for (const p of procs) { p.kill("SIGTERM"); await p.exited; }
    r?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("one trace: the gateway process's spans and the events process's spans share it, parent to child", async () => {
    const trace = "0af7651916cd43dd8448eb211c80319c";
    expect((await fetch(`http://127.0.0.1:${ports.gateway}/api/trading/split`, { headers: { traceparent: `00-${trace}-b7ad6b7169203331-01` } })).status).toBe(201);
    const spans = (await r.waitFor((s) => s.some((x) => x.name === "events.store") && s.some((x) => x.name === "gateway GET trading"))).filter((s) => s.traceId === trace);
    const attempt = spans.find((s) => s.name === "gateway.upstream")!;
    const publish = spans.find((s) => s.name === "events.publish")!;
    expect(attempt.service).toBe("tradpal-gateway");
    expect(publish.service).toBe("tradpal-events");
    expect(publish.parentSpanId).toBe(attempt.spanId);
    expect(spans.find((s) => s.name === "gateway.breaker")!.attributes["tradpal.breaker.verdict"]).toBe("unguarded");
  });
});

afterAll(() => upstream.stop(true));
