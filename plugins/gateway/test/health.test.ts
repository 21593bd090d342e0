/**
 * Health: an instance killed under load (errors bounded by retries, ejected, marked down, then
 * readmitted when it is back), all instances down (503 at once), and upstream state kept across a reload.
 */
import { afterAll, expect, test } from "bun:test";
import { gatewayConfig, load, service, startGateway, startUpstream, type Upstream } from "./support";
import { freePort, type TestHost } from "../../../test/support/harness";

const hosts: TestHost[] = [];
const upstreams: Upstream[] = [];
afterAll(async () => { for (const h of hosts) await h.stop(); for (const u of upstreams) u.stop(); });

async function services(base: string, name: string) {
  return (await (await fetch(`${base}/services/${name}`)).json()) as { instances: { url: string; available: boolean; healthy: boolean; ejected_until?: string; ejections: number; requests: number }[] };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) { if (await cond()) return true; await Bun.sleep(25); }
  return false;
}

const FAST_HEALTH = `        health_check: { interval: 100ms, timeout: 200ms, healthy_threshold: 2, unhealthy_threshold: 2 }
        outlier: { consecutive_failures: 2, base_ejection: 2s }
        retries: { attempts: 2, backoff_base: 1ms, backoff_cap: 5ms }
`;

test("an instance killed under load: retries hide it, it is ejected and marked down, then readmitted when healthy", async () => {
  const a = startUpstream(undefined, { record: false });
  let b = startUpstream(undefined, { record: false });
  upstreams.push(a);
  const bPort = b.port;
  const t = await startGateway(`    services:\n${service("svc", "/svc", [a.url, b.url], FAST_HEALTH)}`);
  hosts.push(t);
  const base = t.url("gateway");

  let killed = false;
  const res = await load(1500, 8, async (i) => {
    if (i === 500 && !killed) { killed = true; b.stop(); }
    return fetch(`${base}/svc/x`);
  });
  const failures = res.filter((r) => r.status !== 200);
  // Every request that hit the dead instance was retried on the live one.
  expect(failures.length).toBe(0);
  expect(a.hits).toBeGreaterThan(900);

  const down = await until(async () => (await services(base, "svc")).instances.find((i) => i.url === b.url)?.healthy === false, 3000);
  expect(down).toBe(true);
  const view = (await services(base, "svc")).instances.find((i) => i.url === b.url)!;
  expect(view.available).toBe(false);
  expect(view.ejections).toBeGreaterThanOrEqual(1);

  // Bring it back on the same port: active checks readmit it after healthy_threshold passes.
  b = startUpstream(undefined, { record: false });
  if (b.port !== bPort) {
    b.stop();
    const srv = Bun.serve({ port: bPort, hostname: "127.0.0.1", fetch: () => Response.json({ back: true }) });
    b = { url: `http://127.0.0.1:${bPort}`, port: bPort, seen: [], hits: 0, stop: () => srv.stop(true) };
  }
  upstreams.push(b);
  const back = await until(async () => (await services(base, "svc")).instances.find((i) => i.url === `http://127.0.0.1:${bPort}`)?.available === true, 4000);
  expect(back).toBe(true);
  const after = await load(40, 4, () => fetch(`${base}/svc/x`));
  expect(after.every((r) => r.status === 200)).toBe(true);
  const bodies = after.map((r) => r.body);
  expect(bodies.some((body) => body.includes(String(bPort)) || body.includes("back"))).toBe(true);
}, 20_000);

test("panic routing (default): every instance marked down by a false alarm still serves; truly dead ones fail fast", async () => {
  // Checks fail (their path answers 500) while the traffic path works: what a stall that timed every check out looks like.
  const alive = [startUpstream((req) => (new URL(req.url).pathname === "/health" ? new Response("no", { status: 500 }) : new Response("served"))), startUpstream((req) => (new URL(req.url).pathname === "/health" ? new Response("no", { status: 500 }) : new Response("served")))];
  upstreams.push(...alive);
  const dead = [`http://127.0.0.1:${freePort()}`];
  const hc = "        health_check: { interval: 50ms, timeout: 100ms, unhealthy_threshold: 1 }\n";
  const t = await startGateway(`    services:\n${service("flaky", "/flaky", alive.map((u) => u.url), hc)}${service("gone", "/gone", dead, hc)}`);
  hosts.push(t);
  const base = t.url("gateway");
  expect(await until(async () => (await services(base, "flaky")).instances.every((i) => !i.healthy), 2000)).toBe(true);
  const served = await load(20, 4, () => fetch(`${base}/flaky/x`));
  expect(served.map((r) => r.body)).toEqual(Array(20).fill("served"));
  expect(alive.every((u) => u.hits > 0)).toBe(true); // in turn, not one
  expect(await until(async () => (await services(base, "gone")).instances.every((i) => !i.healthy), 2000)).toBe(true);
  const t0 = performance.now();
  const r = await fetch(`${base}/gone/x`);
  expect(r.status).toBe(502);
  expect(performance.now() - t0).toBeLessThan(1000);
});

test("all instances down with panic off: 503 GW_ERR_NO_HEALTHY_UPSTREAM at once, not a hang", async () => {
  const dead = [`http://127.0.0.1:${freePort()}`, `http://127.0.0.1:${freePort()}`];
  const t = await startGateway(`    services:\n${service("gone", "/gone", dead, "        health_check: { interval: 50ms, timeout: 100ms, unhealthy_threshold: 1, panic: false }\n")}`);
  hosts.push(t);
  const base = t.url("gateway");
  expect(await until(async () => (await services(base, "gone")).instances.every((i) => !i.healthy), 2000)).toBe(true);
  const t0 = performance.now();
  const r = await fetch(`${base}/gone/x`);
  const ms = performance.now() - t0;
  expect(r.status).toBe(503);
  expect(r.headers.get("retry-after")).toBe("1");
  const body = await r.json();
  expect(body.error.code).toBe("GW_ERR_NO_HEALTHY_UPSTREAM");
  expect(body.error.message).toContain("gone");
  expect(ms).toBeLessThan(100);
});

test("connect errors on every instance before any health verdict: a coded 502, then ejection makes it a fast 503 (panic off)", async () => {
  const dead = [`http://127.0.0.1:${freePort()}`];
  const t = await startGateway(`    services:\n${service("void", "/void", dead, "        health_check: { enabled: false, panic: false }\n        outlier: { consecutive_failures: 2, base_ejection: 5s }\n        retries: { attempts: 0 }\n")}`);
  hosts.push(t);
  const base = t.url("gateway");
  const first = [await fetch(`${base}/void/x`), await fetch(`${base}/void/x`)];
  expect(first.map((r) => r.status)).toEqual([502, 502]);
  const third = await fetch(`${base}/void/x`);
  expect(third.status).toBe(503);
});

test("upstream state (ejection, counters) survives a config reload for unchanged instance URLs", async () => {
  const deadUrl = `http://127.0.0.1:${freePort()}`;
  const live = startUpstream(undefined, { record: false });
  upstreams.push(live);
  const body = (extra: string) => `    services:\n${service("mix", "/mix", [live.url, deadUrl], "        health_check: { enabled: false }\n        outlier: { consecutive_failures: 1, base_ejection: 30s }\n        retries: { attempts: 1, backoff_base: 1ms, backoff_cap: 2ms }\n")}${extra}`;
  const t = await startGateway(body(""));
  hosts.push(t);
  const base = t.url("gateway");
  await load(10, 1, () => fetch(`${base}/mix/x`));
  const before = (await services(base, "mix")).instances.find((i) => i.url === deadUrl)!;
  expect(before.available).toBe(false);
  const outcome = await t.rewrite(gatewayConfig(body(service("other", "/other", [live.url], "        health_check: { enabled: false }\n"))));
  expect(outcome.ok).toBe(true);
  const after = (await services(base, "mix")).instances.find((i) => i.url === deadUrl)!;
  expect(after.available).toBe(false);
  expect(after.ejected_until).toBe(before.ejected_until!);
  expect((await fetch(`${base}/other/x`)).status).toBe(200);
});

test("a reload: an instance removed from the config stops being probed at once; registrations and the kept instance's state carry over", async () => {
  const probes = new Map<string, number>();
  const mk = (tag: string) => startUpstream((req) => { if (new URL(req.url).pathname === "/health") probes.set(tag, (probes.get(tag) ?? 0) + 1); return new Response(tag); });
  const kept = mk("kept"), removed = mk("removed"), registered = mk("registered");
  upstreams.push(kept, removed, registered);
  const hc = "        health_check: { interval: 50ms }\n";
  const t = await startGateway(`    registration: { admin_token: "reload-test-admin-token-0123456789" }\n    services:\n${service("svc", "/svc", [kept.url, removed.url], hc)}`);
  hosts.push(t);
  const base = t.url("gateway");
  const reg = await fetch(`${base}/services/svc/instances`, { method: "POST", headers: { authorization: "Bearer reload-test-admin-token-0123456789", "content-type": "application/json" }, body: JSON.stringify({ url: registered.url, ttl: 300 }) });
  expect(reg.status).toBe(201);
  await load(30, 3, () => fetch(`${base}/svc/x`));
  const before = (await services(base, "svc")).instances.find((i) => i.url === kept.url)!;
  expect(before.requests).toBeGreaterThan(0);
  expect((await t.rewrite(gatewayConfig(`    registration: { admin_token: "reload-test-admin-token-0123456789" }\n    services:\n${service("svc", "/svc", [kept.url], hc)}`))).ok).toBe(true);
  const n = probes.get("removed") ?? 0;
  await Bun.sleep(300); // six probe intervals
  expect((probes.get("removed") ?? 0) - n).toBeLessThanOrEqual(1); // at most one already in flight
  expect((probes.get("kept") ?? 0)).toBeGreaterThan(n > 0 ? 2 : 0);
  const after = await services(base, "svc");
  expect(after.instances.map((i) => i.url).sort()).toEqual([kept.url, registered.url].sort()); // the registration carried over
  expect(after.instances.find((i) => i.url === kept.url)!.requests).toBeGreaterThanOrEqual(before.requests); // its counters too
});
