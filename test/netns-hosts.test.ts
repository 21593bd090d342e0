/**
 * Many hosts on one Redis behave as one platform (issue 16): two hosts, each in its own network namespace
 * with its own address, and Redis in a third, joined by a bridge; the test talks to them from the root
 * namespace as a client on the network would. Shared: rate limits (exact), runtime registrations, breaker
 * state, token revocations. Host A partitioned from Redis keeps serving; host A killed leaves B serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tempDir } from "./support/harness";
import { EventClient } from "../src/clients/event-client";
import { EventSubscriberClient } from "../src/clients/event-subscriber";
import { EventType } from "../src/contracts/event-catalog";
import { createTopology, netnsAvailable, partition, type Topology, type NetnsHost } from "./support/netns";

const ROOT = join(import.meta.dir, "..");
const ADMIN = "netns-admin-token-0123456789abcdef";
const can = netnsAvailable();
if (!can) console.warn("netns-hosts: skipped (needs root and `ip netns`)");

describe.skipIf(!can)("two hosts in their own network namespaces, one Redis", () => {
  let net: Topology;
  let A: NetnsHost, B: NetnsHost, R: NetnsHost;
  const dir = tempDir("tradpal-netns-");
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  const hostProc = new Map<string, ReturnType<typeof Bun.spawn>>();
  let upstream: ReturnType<typeof Bun.serve>;
  let failing = false;

  const config = (h: NetnsHost, withSecurity: boolean) => `
host:
  data_dir: ${join(dir, h.name)}
  bind: 0.0.0.0
  log_level: warn
  redis_url: redis://${R.ip}:6379
plugins:
  gateway:
    port: 8000
    access_log: { enabled: false }
    auth: { jwks_url: "http://${A.ip}:8009/.well-known/jwks.json" }
    rate_limiting: { enabled: true, key: ip, trusted_proxies: [], redis_timeout: 3s }   # a loaded machine must not fall back to local counters
    registration: { admin_token: ${ADMIN}, sync_interval: 200ms }
    services:
      - { name: limited, path_prefix: /limited, rate_limit: 100/min, instances: [{ url: "http://${net.gateway}:${upstream.port}" }], health_check: { enabled: false } }
      - { name: orders, path_prefix: /orders, auth_required: true, scopes: [trade], rate_limit: 100000/min, instances: [{ url: "http://${net.gateway}:${upstream.port}" }], health_check: { enabled: false } }
      - { name: flaky, path_prefix: /flaky, rate_limit: 100000/min, instances: [{ url: "http://${net.gateway}:${upstream.port}" }], health_check: { enabled: false }, outlier: { enabled: false }, retries: { attempts: 0 } }
      - { name: dyn, path_prefix: /dyn, rate_limit: 100000/min, instances: [], registration: { allow: ["${net.gateway}/32"] } }
  breaker:
    port: 8012
    defaults: { failure_threshold: 5, recovery_timeout: 60s }
  events:
    port: 8011
    stream: netns_${process.pid}
${withSecurity ? `  security:\n    port: 8009\n    admin_token: ${ADMIN}\n    services:\n      trader: { scopes: [trade, read] }\n` : ""}`;

  async function up(url: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await fetch(url).then((r) => r.ok, () => false)) return;
      await Bun.sleep(100);
    }
    throw new Error(`${url} did not come up`);
  }

  beforeAll(async () => {
    net = createTopology(3);
    [A, B, R] = net.hosts;
    upstream = Bun.serve({ hostname: net.gateway, port: 0, fetch: () => (failing ? new Response("down", { status: 502 }) : new Response("ok")) });
    const redis = R.exec(["redis-server", "--bind", R.ip, "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no"]);
    procs.push(redis);
    for (const [h, sec] of [[A, true], [B, false]] as const) {
      mkdirSync(join(dir, h.name), { recursive: true });
      writeFileSync(join(dir, `${h.name}.yaml`), config(h, sec));
    }
    for (const h of [A, B]) {
      const p = h.exec(["bun", "run", join(ROOT, "src/main.ts"), "--config", join(dir, `${h.name}.yaml`)], { env: { REDIS_URL: "", TRADPAL_PLATFORM: `netns-${process.pid}` } });
      procs.push(p);
      hostProc.set(h.name, p);
      void new Response(p.stderr as ReadableStream<Uint8Array>).text();
      void new Response(p.stdout as ReadableStream<Uint8Array>).text();
    }
    await Promise.all([up(`http://${A.ip}:8000/health`), up(`http://${B.ip}:8000/health`), up(`http://${A.ip}:8009/health`)]);
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    upstream?.stop(true);
    net?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a rate limit of 100/min is shared exactly: 150 requests spread over both hosts, 100 allowed", async () => {
    let ok = 0;
    for (let i = 0; i < 150; i++) {
      const h = i % 2 === 0 ? A : B;
      const r = await fetch(`http://${h.ip}:8000/limited/x`);
      await r.arrayBuffer();
      if (r.status === 200) ok++;
      else expect(r.status).toBe(429);
    }
    expect(Math.abs(ok - 100)).toBeLessThanOrEqual(1);
  });

  test("an instance registered at host A serves requests at host B", async () => {
    const reg = await fetch(`http://${A.ip}:8000/services/dyn/instances`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ url: `http://${net.gateway}:${upstream.port}`, ttl: 300 }) });
    expect(reg.status).toBe(201);
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await fetch(`http://${B.ip}:8000/dyn/x`)).status;
      if (status !== 200) await Bun.sleep(100);
    }
    expect(status).toBe(200);
  });

  test("a breaker opened by failures at host A refuses at host B", async () => {
    failing = true;
    for (let i = 0; i < 6; i++) await (await fetch(`http://${A.ip}:8000/flaky/x`)).arrayBuffer();
    const deadline = Date.now() + 3000;
    let body = "";
    while (Date.now() < deadline && !body.includes("GW_ERR_CIRCUIT_OPEN")) { body = await (await fetch(`http://${B.ip}:8000/flaky/x`)).text(); if (!body.includes("GW_ERR_CIRCUIT_OPEN")) await Bun.sleep(50); }
    failing = false;
    expect(body).toContain("GW_ERR_CIRCUIT_OPEN");
  });

  test("a token revoked at the security plugin (host A) is refused by the gateway on host B", async () => {
    const minted = await (await fetch(`http://${A.ip}:8009/tokens/trader`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: "{}" })).json();
    const call = () => fetch(`http://${B.ip}:8000/orders/x`, { headers: { authorization: `Bearer ${minted.token}` } }).then((r) => r.status);
    expect(await call()).toBe(200);
    const rev = await fetch(`http://${A.ip}:8009/tokens/revoke`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ token: minted.token }) });
    expect(rev.status).toBe(200);
    const deadline = Date.now() + 3000;
    let s = 200;
    while (Date.now() < deadline && s === 200) { s = await call(); if (s === 200) await Bun.sleep(20); }
    expect(s).toBe(401);
  });

  test("one consumer group with a member on each host: 200 events published at both, each handled once", async () => {
    const seen = new Map<string, number>();
    const perMember = [0, 0];
    const members = [A, B].map((h, i) => {
      const sub = new EventSubscriberClient(new EventClient({ baseUrl: `http://${h.ip}:8011` }), { group: `netns-${process.pid}`, consumer: `m${i}` });
      sub.registerHandler(EventType.MARKET_DATA_UPDATE, (e) => { const k = String(e.payload.symbol); seen.set(k, (seen.get(k) ?? 0) + 1); perMember[i]++; });
      return sub;
    });
    await Promise.all(members.map((m) => m.startSubscribing()));
    const pubs = [A, B].map((h) => new EventClient({ baseUrl: `http://${h.ip}:8011`, source: "netns-test" }));
    for (let i = 0; i < 200; i++) await pubs[i % 2].publishMarketData({ symbol: `S${i}/USDT`, price: i + 1 });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && seen.size < 200) await Bun.sleep(50);
    await Bun.sleep(200);
    await Promise.all(members.map((m) => m.stop()));
    expect(seen.size).toBe(200);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(perMember.every((n) => n > 0)).toBe(true); // the group spread them over both hosts
  }, 30_000);

  test("host A cut off from Redis keeps serving (local fallback); host B is unaffected", async () => {
    const heal = partition(A, R.ip);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) for (const h of [A, B]) statuses.push((await fetch(`http://${h.ip}:8000/orders/x`, { headers: { authorization: "Bearer nope" } })).status);
      // Unauthenticated on an auth_required route: both answer 401 themselves, none hangs or 5xx.
      expect(new Set(statuses)).toEqual(new Set([401]));
      const a = await fetch(`http://${A.ip}:8000/dyn/x`);
      expect(a.status).toBe(200); // the registration it already knew keeps serving
    } finally { heal(); }
  }, 30_000);

  test("host A killed under load: host B serves every request sent to it", async () => {
    let failedAtB = 0;
    let sentToB = 0;
    const killAfter = 200;
    for (let i = 0; i < 600; i++) {
      if (i === killAfter) hostProc.get(A.name)!.kill("SIGKILL");
      const h = i % 2 === 0 ? A : B;
      const s = await fetch(`http://${h.ip}:8000/dyn/x`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.status, () => -1);
      if (h === B) { sentToB++; if (s !== 200) failedAtB++; }
    }
    expect(sentToB).toBe(300);
    expect(failedAtB).toBe(0);
  }, 60_000);
});
