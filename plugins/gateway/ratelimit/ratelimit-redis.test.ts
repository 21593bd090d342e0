/**
 * Cluster-wide limiting on a real Redis: two gateway policies sharing one Redis and key prefix
 * enforce one limit; Redis stopped under load → decisions continue on local counters (no errors,
 * health and metric say so, limits still enforced); Redis back → cluster limiting resumes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { createEdgePolicy } from "../edge-policy/policy";
import { decodeGatewaySettings } from "../schema";
import { route, testContext, decide, uniquePrefix } from "../test/support";
import type { EdgePolicy, EdgeRoute } from "../edge-policy/contract";
import { SHARED_REDIS_URL, startPrivateRedis, freePort, tempDir, type PrivateRedis } from "../../../test/support/harness";

const open: EdgePolicy[] = [];
let priv: PrivateRedis | undefined;
afterAll(async () => {
  for (const p of open) await p.stop();
  await priv?.stop();
});

async function make(redisUrl: string, prefix: string, routes: EdgeRoute[], ctx = testContext(), extra: Record<string, unknown> = {}) {
  const p = await createEdgePolicy(decodeGatewaySettings({ rate_limiting: { store: "redis", redis_url: redisUrl, key_prefix: prefix, probe_interval: "200ms", ...extra } }), ctx, routes);
  open.push(p);
  return p;
}

describe("two gateways, one Redis", () => {
  test("100/min, 300 requests spread over both instances → 100 pass", async () => {
    const prefix = uniquePrefix();
    const r = route("cluster", { rate: "100/min" });
    const g1 = await make(SHARED_REDIS_URL, prefix, [r]);
    const g2 = await make(SHARED_REDIS_URL, prefix, [r]);
    expect((g1.health() as any).ratelimit.mode).toBe("redis");
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => decide((i % 2 ? g1 : g2).check(new Request("http://gw/"), r, "10.20.0.1"))),
    );
    const passed = results.filter((d) => !d.reject).length;
    expect(passed).toBeGreaterThanOrEqual(99);
    expect(passed).toBeLessThanOrEqual(101);
    expect(results.filter((d) => d.reject && d.reject.status !== 429)).toHaveLength(0);
    // the decision really lives in Redis under the shared prefix
    const probe = new Redis(SHARED_REDIS_URL);
    const keys = await probe.keys(`${prefix}*`);
    await probe.quit();
    expect(keys.length).toBe(1);
  });

  test("EVALSHA after SCRIPT FLUSH still works (NOSCRIPT → EVAL)", async () => {
    const prefix = uniquePrefix();
    const r = route("noscript", { rate: "10/min" });
    priv ??= await startPrivateRedis({ appendonly: false });
    const g = await make(priv.url, prefix, [r]);
    expect((await decide(g.check(new Request("http://gw/"), r, "10.21.0.1"))).reject).toBeUndefined();
    const admin = new Redis(priv.url);
    await admin.script("FLUSH");
    await admin.quit();
    const d = await decide(g.check(new Request("http://gw/"), r, "10.21.0.1"));
    expect(d.reject).toBeUndefined();
    expect((g.health() as any).ratelimit.mode).toBe("redis");
    expect(Object.fromEntries(d.responseHeaders!).ratelimit).toBe('"noscript";r=8;t=12');
  });
});

describe("batched decisions (one script call per round trip)", () => {
  test("a burst on one key: the first `limit` in arrival order pass, remaining counts down, the rest get a retry time", async () => {
    const r = route("burst", { rate: "5/min" });
    const g = await make(SHARED_REDIS_URL, uniquePrefix(), [r]);
    const ds = await Promise.all(Array.from({ length: 20 }, () => decide(g.check(new Request("http://gw/"), r, "10.40.0.1"))));
    expect(ds.map((d) => (d.reject ? "x" : "ok"))).toEqual([...Array(5).fill("ok"), ...Array(15).fill("x")]);
    const remaining = ds.slice(0, 5).map((d) => /;r=(\d+);/.exec(Object.fromEntries(d.responseHeaders!).ratelimit)![1]);
    expect(remaining).toEqual(["4", "3", "2", "1", "0"]);
    for (const d of ds.slice(5)) expect(Number(d.reject!.headers.get("retry-after"))).toBeGreaterThanOrEqual(11);
  });

  test("many keys at once (more than one script call's worth): each key gets exactly its own limit", async () => {
    const r = route("wide", { rate: "2/min" });
    const g = await make(SHARED_REDIS_URL, uniquePrefix(), [r]);
    const ds = await Promise.all(Array.from({ length: 900 }, (_, i) => decide(g.check(new Request("http://gw/"), r, `10.41.${i % 300 >> 8}.${(i % 300) & 255}`))));
    expect(ds.filter((d) => !d.reject)).toHaveLength(600);
    expect((g.health() as any).ratelimit.mode).toBe("redis");
  });

  test("policies of different numbers and many keys in the same calls: each decided by its own numbers", async () => {
    // Three policies (two with the same numbers under different names) queued together, so one script
    // call carries several policies' arguments and keys whose waiters differ in count.
    const a = route("mixA", { rate: "3/min" });
    const b = route("mixB", { rate: "7/hour" });
    const c = route("mixC", { rate: "3/min" });
    const g = await make(SHARED_REDIS_URL, uniquePrefix(), [a, b, c]);
    const asks: [EdgeRoute, string][] = [];
    for (let i = 0; i < 12; i++) for (const r of [a, b, c]) asks.push([r, `10.42.0.${i % 4}`]);
    const ds = await Promise.all(asks.map(([r, ip]) => decide(g.check(new Request("http://gw/"), r, ip))));
    const passed = (r: EdgeRoute, ip: string) => ds.filter((d, i) => asks[i][0] === r && asks[i][1] === ip && !d.reject).length;
    for (let k = 0; k < 4; k++) {
      expect(passed(a, `10.42.0.${k}`)).toBe(3);
      expect(passed(b, `10.42.0.${k}`)).toBe(3); // 3 asked per key, all within 7/hour
      expect(passed(c, `10.42.0.${k}`)).toBe(3);
    }
    // The numbers each answer carries come from its own policy: remaining counts down from limit - 1.
    const remainingOf = (r: EdgeRoute, ip: string) => ds.filter((d, i) => asks[i][0] === r && asks[i][1] === ip && !d.reject)
      .map((d) => Number(/;r=(\d+);/.exec(Object.fromEntries(d.responseHeaders!).ratelimit)![1]));
    expect(remainingOf(b, "10.42.0.1")).toEqual([6, 5, 4]);
    expect(remainingOf(a, "10.42.0.2")).toEqual([2, 1, 0]);
    // A 4th ask on a 3/min key waits ~20 s for its slot; the 7/hour one still passes.
    const [late, open] = await Promise.all([decide(g.check(new Request("http://gw/"), a, "10.42.0.3")), decide(g.check(new Request("http://gw/"), b, "10.42.0.3"))]);
    expect(Number(late.reject!.headers.get("retry-after"))).toBeGreaterThanOrEqual(19);
    expect(Number(late.reject!.headers.get("retry-after"))).toBeLessThanOrEqual(20);
    expect(open.reject).toBeUndefined();
  });
});

describe("Redis stopped during load", () => {
  test("local fallback without errors, visible in health/metric/log; cluster mode resumes", async () => {
    priv ??= await startPrivateRedis({ appendonly: false });
    const prefix = uniquePrefix();
    const busy = route("busy", { rate: "100000/min" });
    const tight = route("tight", { rate: "5/min" });
    const ctx = testContext();
    const g = await make(priv.url, prefix, [busy, tight], ctx);
    expect((g.health() as any).ratelimit.mode).toBe("redis");

    const statuses = new Map<string, number>();
    let thrown = 0;
    let stopLoad = false;
    const worker = async (w: number) => {
      for (let i = 0; i < 20_000 && !stopLoad; i++) {
        try {
          const d = await decide(g.check(new Request("http://gw/"), busy, `10.30.${w}.${i % 200}`));
          const k = d.reject ? String(d.reject.status) : "pass";
          statuses.set(k, (statuses.get(k) ?? 0) + 1);
        } catch { thrown++; }
        if (i % 20 === 0) await Bun.sleep(1);
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));

    await Bun.sleep(300);
    await priv.stop();
    // Traffic continues on local counters.
    const deadline = Date.now() + 3000;
    while ((g.health() as any).ratelimit.mode !== "fallback" && Date.now() < deadline) await Bun.sleep(20);
    const h = g.health() as any;
    expect(h.ratelimit.mode).toBe("fallback");
    expect(h.ratelimit.degraded).toContain("redis unreachable");
    const passedBefore = statuses.get("pass") ?? 0;
    await Bun.sleep(400);
    expect(statuses.get("pass") ?? 0).toBeGreaterThan(passedBefore);
    // Never fail open: the tight limit is still enforced (locally) while Redis is down.
    let tightOk = 0;
    for (let i = 0; i < 10; i++) if (!(await decide(g.check(new Request("http://gw/"), tight, "10.31.0.1"))).reject) tightOk++;
    expect(tightOk).toBe(5);
    const gauge = await ctx.metrics.registry.getSingleMetricAsString("tradpal_gateway_ratelimit_fallback");
    expect(gauge).toContain("tradpal_gateway_ratelimit_fallback 1");

    await priv.start();
    const back = Date.now() + 5000;
    while ((g.health() as any).ratelimit.mode !== "redis" && Date.now() < back) await Bun.sleep(50);
    expect((g.health() as any).ratelimit.mode).toBe("redis");
    await Bun.sleep(200);
    stopLoad = true;
    await load;

    expect(thrown).toBe(0);
    expect([...statuses.keys()].filter((k) => k !== "pass" && k !== "429")).toEqual([]);
    // Logged once per transition, not once per request.
    const warns = ctx.lines.filter((l) => l.level === "warn" && String(l.msg).startsWith("cluster rate limiting unavailable"));
    expect(warns).toHaveLength(1);
    expect(ctx.lines.some((l) => String(l.msg).startsWith("cluster rate limiting resumed"))).toBe(true);
    expect(await ctx.metrics.registry.getSingleMetricAsString("tradpal_gateway_ratelimit_fallback")).toContain("tradpal_gateway_ratelimit_fallback 0");
    // Decisions are in Redis again.
    const fresh = route("fresh", { rate: "10/min" });
    await decide(g.check(new Request("http://gw/"), fresh, "10.32.0.1"));
    const admin = new Redis(priv.url);
    const keys = await admin.keys(`${prefix}fresh*`);
    await admin.quit();
    expect(keys.length).toBe(1);
  }, 20_000);

  test("Redis unreachable at start: provision succeeds in fallback, health says so", async () => {
    const r = route("down", { rate: "2/min" });
    const g = await make("redis://127.0.0.1:1", uniquePrefix(), [r]);
    expect((g.health() as any).ratelimit.mode).toBe("fallback");
    let ok = 0;
    for (let i = 0; i < 5; i++) if (!(await decide(g.check(new Request("http://gw/"), r, "10.33.0.1"))).reject) ok++;
    expect(ok).toBe(2);
  });
});

describe("Redis hung (SIGSTOP), not closed", () => {
  test("decisions fall back after redis_timeout instead of hanging; SIGCONT → cluster mode again", async () => {
    const port = freePort();
    const dir = tempDir("tradpal-redis-hung-");
    const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
    try {
      const deadline = Date.now() + 5000;
      for (;;) {
        try { const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(x) { x.end(); } } }); void s; break; } catch { if (Date.now() > deadline) throw new Error("redis did not start"); await Bun.sleep(25); }
      }
      const r = route("hung", { rate: "3/min" });
      const g = await make(`redis://127.0.0.1:${port}`, uniquePrefix(), [r], testContext(), { redis_timeout: "150ms" });
      expect((g.health() as any).ratelimit.mode).toBe("redis");
      expect((await decide(g.check(new Request("http://gw/"), r, "10.60.0.1"))).reject).toBeUndefined();
      process.kill(proc.pid, "SIGSTOP");
      const t0 = performance.now();
      const ds = await Promise.all(Array.from({ length: 5 }, () => decide(g.check(new Request("http://gw/"), r, "10.60.0.1"))));
      const waited = performance.now() - t0;
      expect(waited).toBeLessThan(2000); // bounded by the command timeout, not by TCP
      expect((g.health() as any).ratelimit.mode).toBe("fallback");
      expect(ds.filter((d) => !d.reject)).toHaveLength(3); // local counters: still limited, never open
      process.kill(proc.pid, "SIGCONT");
      const back = Date.now() + 5000;
      while ((g.health() as any).ratelimit.mode !== "redis" && Date.now() < back) await Bun.sleep(50);
      expect((g.health() as any).ratelimit.mode).toBe("redis");
    } finally {
      try { process.kill(proc.pid, "SIGCONT"); } catch { /* gone */ }
      proc.kill("SIGTERM");
      await proc.exited;
    }
  }, 15_000);
});
