/**
 * One bad instance is the instance's problem, not the service's (issue 12): with three instances behind
 * the real gateway and the real breaker plugin, killing or slowing one under load fails < 1 % of
 * requests, ejects that instance and leaves the service's breaker closed; after a full outage the first
 * 2xx comes within recovery_timeout + one health interval of the instances' return.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { startHost, type TestHost } from "./support/harness";
import { expectNoOutstandingPermits } from "./support/permits";

/** An upstream on a fixed port that can be killed (listener and connections gone) and started again. */
class Instance {
  server: Server<undefined> | null = null;
  slowMs = 0;
  hits = 0;
  constructor(public port = 0) { this.start(); }
  get url() { return `http://127.0.0.1:${this.port}`; }
  start() {
    this.server = Bun.serve({
      port: this.port, hostname: "127.0.0.1",
      fetch: async (req) => {
        if (new URL(req.url).pathname === "/health") return new Response("ok");
        this.hits++;
        if (this.slowMs > 0) await Bun.sleep(this.slowMs);
        return Response.json({ port: this.port });
      },
    });
    this.port = this.server.port!;
  }
  kill() { this.server?.stop(true); this.server = null; }
}

async function load(url: string, n: number, concurrency: number, at?: { after: number; run: () => void }): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await fetch(url).then(async (res) => { await res.arrayBuffer(); return res.status; }, () => -1);
      statuses.set(r, (statuses.get(r) ?? 0) + 1);
      if (++done === at?.after) at.run();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

const failed = (s: Map<number, number>) => [...s].filter(([k]) => k !== 200).reduce((a, [, v]) => a + v, 0);

/** `outlier`/`health`: flow-style YAML maps that replace the defaults below. */
function config(balancer: string, urls: string[], o: { outlier?: string; health?: string; threshold?: number } = {}) {
  return `
host:
  data_dir: \${DATA_DIR}
  log_level: error
plugins:
  breaker:
    port: 0
    defaults: { failure_threshold: ${o.threshold ?? 5}, recovery_timeout: 1s, recovery_backoff_multiplier: 1, half_open_max_calls: 2 }
    tick_interval: 50ms
  gateway:
    port: 0
    access_log: { enabled: false }
    rate_limiting: { enabled: false }
    services:
      - name: trio
        path_prefix: /trio
        load_balancing: ${balancer}
        timeout: 3s
        instances: [${urls.map((u) => `{ url: "${u}" }`).join(", ")}]
        health_check: ${o.health ?? "{ interval: 500ms, timeout: 300ms, healthy_threshold: 1, unhealthy_threshold: 2 }"}
        outlier: ${o.outlier ?? "{ consecutive_failures: 3, base_ejection: 30s }"}
        retries: { attempts: 2, per_try_timeout: 500ms, backoff_base: 1ms, backoff_cap: 5ms }
`;
}

let t: TestHost | undefined;
let trio: Instance[] = [];
afterEach(async () => {
  await expectNoOutstandingPermits();
  await t?.stop(); t = undefined;
  for (const i of trio) i.kill();
});

async function service(): Promise<{ instances: { url: string; available: boolean }[] }> {
  return (await fetch(`${t!.url("gateway")}/services/trio`)).json();
}
async function breaker(): Promise<{ state: string; transitions: unknown[] }> {
  return (await fetch(`${t!.url("breaker")}/circuit-breakers/trio`)).json();
}

describe("one bad instance of three", () => {
  test("killed under load: < 1 % of requests fail, the instance is ejected, the breaker stays closed", async () => {
    trio = [new Instance(), new Instance(), new Instance()];
    t = await startHost(config("round_robin", trio.map((i) => i.url)));
    const s = await load(`${t.url("gateway")}/trio/x`, 3000, 16, { after: 500, run: () => trio[1].kill() });
    expect(failed(s) / 3000).toBeLessThan(0.01);
    const dead = (await service()).instances.find((i) => i.url === trio[1].url)!;
    expect(dead.available).toBe(false);
    const b = await breaker();
    expect(b.state).toBe("closed");
    expect(b.transitions).toEqual([]);
  });

  for (const balancer of ["round_robin", "least_connections", "p2c_ewma"]) {
    test(`slowed past the timeout (${balancer}): < 1 % fail, the instance is ejected, the breaker stays closed`, async () => {
      trio = [new Instance(), new Instance(), new Instance()];
      t = await startHost(config(balancer, trio.map((i) => i.url)));
      trio[2].slowMs = 2000;
      const s = await load(`${t.url("gateway")}/trio/x`, 600, 16);
      expect(failed(s) / 600).toBeLessThan(0.01);
      const slow = (await service()).instances.find((i) => i.url === trio[2].url)!;
      expect(slow.available).toBe(false);
      expect((await breaker()).state).toBe("closed");
      trio[2].slowMs = 0;
    }, 30_000);
  }
});

async function firstOkAfterRestart(url: string): Promise<number> {
  // Callers keep knocking during the outage (trial permits must not leak while nothing is healthy).
  const knock = setInterval(() => { fetch(url).then((r) => r.arrayBuffer(), () => {}); }, 20);
  await Bun.sleep(1500);
  for (const i of trio) i.start();
  const back = Date.now();
  let first = 0;
  while (Date.now() - back < 10_000) {
    const r = await fetch(url);
    await r.arrayBuffer();
    if (r.status === 200) { first = Date.now() - back; break; }
    await Bun.sleep(20);
  }
  clearInterval(knock);
  await Bun.sleep(100);
  return first;
}

describe("all three killed, then back", () => {
  // recovery_timeout 1 s + health interval 500 ms (healthy_threshold 1), plus slack for a loaded machine
  const LIMIT = 1000 + 500 + 1000;

  test("ejected and marked down first: the first 2xx comes within recovery_timeout + one health interval", async () => {
    trio = [new Instance(), new Instance(), new Instance()];
    t = await startHost(config("round_robin", trio.map((i) => i.url)));
    const url = `${t.url("gateway")}/trio/x`;
    expect((await fetch(url)).status).toBe(200);
    for (const i of trio) i.kill();
    const first = await firstOkAfterRestart(url);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(LIMIT);
  }, 30_000);

  test("the breaker open first (half-open trials while nothing is healthy must not leak): the same bound", async () => {
    trio = [new Instance(), new Instance(), new Instance()];
    t = await startHost(config("round_robin", trio.map((i) => i.url), { threshold: 2, outlier: "{ consecutive_failures: 50 }", health: "{ interval: 500ms, timeout: 300ms, healthy_threshold: 1, unhealthy_threshold: 50 }" }));
    const url = `${t.url("gateway")}/trio/x`;
    expect((await fetch(url)).status).toBe(200);
    for (const i of trio) i.kill();
    for (let k = 0; k < 10 && (await breaker()).state !== "open"; k++) await (await fetch(url)).arrayBuffer();
    expect((await breaker()).state).toBe("open");
    const first = await firstOkAfterRestart(url);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(LIMIT);
    expect((await breaker()).state).not.toBe("open");
  }, 30_000);
});

test("every instance looking bad at once (as after a gateway stall) ejects at most max_ejection_percent of them", async () => {
  trio = [new Instance(), new Instance(), new Instance()];
  t = await startHost(config("round_robin", trio.map((i) => i.url), { threshold: 1000, health: "{ enabled: false }" }));
  for (const i of trio) i.slowMs = 1000; // each try cut off by per_try_timeout (500 ms): a timeout against every instance
  await load(`${t.url("gateway")}/trio/x`, 48, 16);
  const ejected = (await service()).instances.filter((i) => !i.available).length;
  expect(ejected).toBe(1); // floor(3 × 50 %) = 1; the other two keep taking traffic
  for (const i of trio) i.slowMs = 0;
  // Every request failed meanwhile, so the service's breaker opened (rightly: the service did fail); reset it.
  expect((await fetch(`${t.url("breaker")}/circuit-breakers/trio/reset`, { method: "POST" })).status).toBe(200);
  const after = await load(`${t.url("gateway")}/trio/x`, 300, 8);
  expect(failed(after)).toBe(0);
}, 30_000);
