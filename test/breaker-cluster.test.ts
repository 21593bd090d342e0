/**
 * Cluster mode: two hosts (each a breaker + a gateway-contract caller) share the real Redis under a
 * prefix unique to this run. A breaker opened by traffic on one is open on the other within 100 ms;
 * closing propagates too; a host that starts later picks up the open state; Redis down → health says so.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { startHost, startPrivateRedis, SHARED_REDIS_URL, type TestHost } from "./support/harness";
import { callerPlugin } from "./support/caller-plugin";
import type { BreakerTransition } from "../src/contracts/bus-topics";

const PREFIX = `test:breaker:${process.pid}:${Date.now()}:`;

function failingUpstream() {
  const state = { status: 500, hits: 0 };
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => { state.hits++; return new Response("x", { status: state.status }); } });
  return { state, server, url: `http://127.0.0.1:${server.port}` };
}

const yaml = (redisUrl: string, upstream: string) => `
host:
  data_dir: \${DATA_DIR}
  redis_url: "${redisUrl}"
plugins:
  breaker:
    port: 0
    admin_token: cluster-test-token-123456
    cluster_prefix: "${PREFIX}"
    defaults: { failure_threshold: 3, recovery_timeout: 30s }
  caller:
    port: 0
    services: [{ name: payments, url: "${upstream}" }]
`;

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) { if (await cond()) return; await Bun.sleep(5); }
  throw new Error(`timed out waiting for ${what}`);
}

describe("breaker cluster mode through Redis", () => {
  let a: TestHost, b: TestHost;
  let up: ReturnType<typeof failingUpstream>;
  const seenOnB: (BreakerTransition & { receivedAt: number })[] = [];
  const seenOnA: (BreakerTransition & { receivedAt: number })[] = [];
  const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true });

  beforeAll(async () => {
    up = failingUpstream();
    a = await startHost(yaml(SHARED_REDIS_URL, up.url), { plugins: { caller: callerPlugin } });
    b = await startHost(yaml(SHARED_REDIS_URL, up.url), { plugins: { caller: callerPlugin } });
    a.host.bus.on("breaker.transition", (t) => seenOnA.push({ ...t, receivedAt: performance.timeOrigin + performance.now() }));
    b.host.bus.on("breaker.transition", (t) => seenOnB.push({ ...t, receivedAt: performance.timeOrigin + performance.now() }));
    await redis.connect();
  });
  afterAll(async () => {
    await a?.stop(); await b?.stop();
    up?.server.stop(true);
    await redis.del(`${PREFIX}breaker:state`);
    await redis.quit();
  });

  test("both instances report cluster mode and a live Redis", async () => {
    for (const t of [a, b]) {
      const h = await (await fetch(`${t.url("breaker")}/health`)).json();
      expect(JSON.stringify(h)).toContain('"redis":"up"');
      expect((await (await fetch(`${t.url("breaker")}/dashboard`)).json()).mode).toBe("cluster");
    }
  });

  test("opened by traffic on A → open on B within 100 ms, and B refuses without calling upstream", async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${a.url("caller")}/call/payments/x`)).status).toBe(500);
    const openedOnA = seenOnA.find((t) => t.to === "open")!;
    expect(openedOnA).toBeDefined();
    await until(() => seenOnB.some((t) => t.to === "open"), 1000, "B to open");
    const openedOnB = seenOnB.find((t) => t.to === "open")!;
    const lag = openedOnB.receivedAt - openedOnA.receivedAt;
    console.log(`cluster propagation A→B: ${lag.toFixed(2)} ms`);
    expect(lag).toBeLessThan(100);
    const hits = up.state.hits;
    const r = await fetch(`${b.url("caller")}/call/payments/x`);
    expect(r.status).toBe(503);
    expect(up.state.hits).toBe(hits);
    const d = await (await fetch(`${b.url("breaker")}/circuit-breakers/payments`)).json();
    expect(d.state).toBe("open");
    expect(d.transitions[0].origin).toBe("remote");
    expect(d.transitions[0].reason).toContain("from another instance");
    // Same retry time on both: they try again together.
    const dA = await (await fetch(`${a.url("breaker")}/circuit-breakers/payments`)).json();
    expect(d.next_half_open_at).toBe(dA.next_half_open_at);
  });

  test("a remote transition is not published back (no echo loop)", async () => {
    await Bun.sleep(50);
    expect(seenOnA.filter((t) => t.to === "open").length).toBe(1);
    expect(seenOnB.filter((t) => t.to === "open").length).toBe(1);
  });

  test("a host that starts later takes the open state from Redis", async () => {
    const c = await startHost(yaml(SHARED_REDIS_URL, up.url), { plugins: { caller: callerPlugin } });
    try {
      const d = await (await fetch(`${c.url("breaker")}/circuit-breakers/payments`)).json();
      expect(d.state).toBe("open");
    } finally { await c.stop(); }
  });

  test("reset on B → closed on A within 100 ms", async () => {
    const start = performance.timeOrigin + performance.now();
    expect((await (await fetch(`${b.url("breaker")}/circuit-breakers/payments/reset`, { method: "POST" })).json()).state).toBe("closed");
    await until(() => seenOnA.some((t) => t.to === "closed"), 1000, "A to close");
    expect(seenOnA.find((t) => t.to === "closed")!.receivedAt - start).toBeLessThan(100);
    up.state.status = 200;
    expect((await fetch(`${a.url("caller")}/call/payments/x`)).status).toBe(200);
  });

  test("force-open on A holds B open too", async () => {
    await fetch(`${a.url("breaker")}/circuit-breakers/payments/force-open`, { method: "POST", headers: { authorization: "Bearer cluster-test-token-123456" } });
    await until(async () => (await (await fetch(`${b.url("breaker")}/circuit-breakers/payments`)).json()).state === "forced_open", 1000, "B forced open");
    expect((await fetch(`${b.url("caller")}/call/payments/x`)).status).toBe(503);
    await fetch(`${a.url("breaker")}/circuit-breakers/payments/force-close`, { method: "POST", headers: { authorization: "Bearer cluster-test-token-123456" } });
    await until(async () => (await (await fetch(`${b.url("breaker")}/circuit-breakers/payments`)).json()).state === "closed", 1000, "B closed");
  });
});

describe("cluster mode without a reachable Redis", () => {
  test("breakers keep working locally, /health says Redis is down, and sync starts once Redis is up", async () => {
    const up = failingUpstream();
    const redis = await startPrivateRedis({ appendonly: false });
    await redis.stop();
    const t = await startHost(yaml(redis.url, up.url), { plugins: { caller: callerPlugin } });
    try {
      const h = await fetch(`${t.url("breaker")}/health`);
      expect(h.status).toBe(503);
      expect(JSON.stringify(await h.json())).toContain('"redis":"down"');
      for (let i = 0; i < 3; i++) await fetch(`${t.url("caller")}/call/payments/x`);
      expect((await fetch(`${t.url("caller")}/call/payments/x`)).status).toBe(503);
      await redis.start();
      await until(async () => (await fetch(`${t.url("breaker")}/health`)).status === 200, 5000, "health to recover");
      await fetch(`${t.url("breaker")}/circuit-breakers/payments/reset`, { method: "POST" });
      const client = new Redis(redis.url);
      try {
        await until(async () => JSON.parse((await client.hget(`${PREFIX}breaker:state`, "payments")) ?? "{}").state === 0, 2000, "state in the hash");
      } finally { client.disconnect(); }
    } finally { await t.stop(); up.server.stop(true); await redis.stop(); }
  });
});

describe("two real gateways sharing Redis", () => {
  const prefix = `${PREFIX}gw2:`;
  let a: TestHost, b: TestHost;
  let up: ReturnType<typeof failingUpstream>;
  const opened: Record<string, number> = {};
  const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true });
  const gwYaml = (upstream: string) => `
host:
  data_dir: \${DATA_DIR}
  redis_url: "${SHARED_REDIS_URL}"
plugins:
  breaker:
    port: 0
    cluster_prefix: "${prefix}"
    defaults: { failure_threshold: 3, recovery_timeout: 30s }
  gateway:
    port: 0
    access_log: { enabled: false }
    rate_limiting: { enabled: false }
    registration: { redis_prefix: "${prefix}registry:" }
    services:
      - name: ledger
        path_prefix: /ledger
        instances: [{ url: "${upstream}" }]
        health_check: { enabled: false }
        outlier: { enabled: false }
        retries: { attempts: 0 }
`;

  beforeAll(async () => {
    up = failingUpstream();
    a = await startHost(gwYaml(up.url));
    b = await startHost(gwYaml(up.url));
    a.host.bus.on("breaker.transition", (t) => { if (t.to === "open") opened.a ??= performance.timeOrigin + performance.now(); });
    b.host.bus.on("breaker.transition", (t) => { if (t.to === "open") opened.b ??= performance.timeOrigin + performance.now(); });
    await redis.connect();
  });
  afterAll(async () => {
    await a?.stop(); await b?.stop();
    up?.server.stop(true);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  test("failures through gateway A open the breaker on gateway B within 100 ms; B refuses without upstream traffic", async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${a.url("gateway")}/ledger/x`)).status).toBe(500);
    expect(opened.a).toBeDefined();
    await until(() => opened.b !== undefined, 1000, "gateway B's breaker to open");
    console.log(`cluster propagation gateway A→B: ${(opened.b - opened.a).toFixed(2)} ms`);
    expect(opened.b - opened.a).toBeLessThan(100);
    const hits = up.state.hits;
    const r = await fetch(`${b.url("gateway")}/ledger/x`);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).not.toBeNull();
    expect((await r.json()).error.code).toBe("GW_ERR_CIRCUIT_OPEN");
    expect(up.state.hits).toBe(hits);
  });
});
