/**
 * One call graph for several gateway processes on one Redis (topology-share.ts), with real Redis (the
 * machine's shared one, under a key prefix of this run only; nothing is flushed):
 *   · two hosts, each with its gateway and its own traffic: GET /topology on either shows both's edges,
 *     summed where they name the same caller → route → service → instance; a host that stops takes its
 *     edges out at once;
 *   · `host.workers: 2` (`bun run src/main.ts`, SO_REUSEPORT): whichever worker answers GET /topology, it
 *     counts every request both workers proxied.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { freePort, SHARED_REDIS_URL, startHost, tempDir, type TestHost } from "../../../test/support/harness";

const origin = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true }) });
const ORIGIN = `http://127.0.0.1:${origin.port}`;
const prefix = (what: string) => `tradpal-test:topology:${what}:${crypto.randomUUID().slice(0, 8)}:`;

const gateway = (p: string, extraServices = "") => `    rate_limiting: { enabled: false }
    registration: { redis_prefix: "${p}" }
    services:
      - { name: quotes, path_prefix: /api/quotes, instances: [{ url: "${ORIGIN}" }], health_check: { enabled: false } }
${extraServices}`;

interface View { shared?: string; sources?: { id: string; edges: number }[]; edges: { caller: string; route: string; requests: number; errors: number }[] }
const topology = async (url: string) => (await (await fetch(`${url}/topology`)).json()) as View;
const requestsOn = (v: View, route: string) => v.edges.filter((e) => e.route === route).reduce((n, e) => n + e.requests, 0);

/**
 * Each test starts gateways (hosts, or a process with two workers: up to 20 s allowed below) and waits for a
 * publish turn (every 2 s, `until` allows 8 s): ~3 s on a quiet machine, more when loaded; bun's default 5 s
 * (a run without --timeout) is shorter than the waits the tests themselves allow.
 */
const WORK_MS = 45_000;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) { if ((last = await fn()) !== undefined) return last; await Bun.sleep(100); }
  throw new Error(`${what}: not in ${ms} ms`);
}

describe("two hosts on one Redis", () => {
  const p = prefix("hosts");
  let a: TestHost, b: TestHost;
  afterAll(async () => { await a?.stop(); await b?.stop(); });

  test("either gateway's GET /topology shows both's edges, summed; a stopped host's edges leave", async () => {
    const config = (extra: string) => `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\n  redis_url: "${SHARED_REDIS_URL}"\nplugins:\n  gateway:\n    port: 0\n${gateway(p, extra)}`;
    a = await startHost(config(""), { only: ["gateway"] });
    b = await startHost(config(`      - { name: orders, path_prefix: /api/orders, instances: [{ url: "${ORIGIN}" }], health_check: { enabled: false } }\n`), { only: ["gateway"] });
    for (let i = 0; i < 5; i++) expect((await fetch(`${a.url("gateway")}/api/quotes/x`)).status).toBe(200);
    for (let i = 0; i < 7; i++) expect((await fetch(`${b.url("gateway")}/api/quotes/x`)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await fetch(`${b.url("gateway")}/api/orders/x`)).status).toBe(200);

    // Each process publishes every 2 s: wait until A's view has B's counts.
    const fromA = await until("A sees B's edges", async () => { const v = await topology(a.url("gateway")); return requestsOn(v, "quotes") === 12 && requestsOn(v, "orders") === 3 ? v : undefined; });
    expect(fromA.shared).toBe("redis");
    expect(fromA.sources).toHaveLength(2);
    expect(fromA.edges.filter((e) => e.route === "quotes")).toHaveLength(1); // same caller → route → service → instance: one edge
    const fromB = await until("B sees A's edges", async () => { const v = await topology(b.url("gateway")); return requestsOn(v, "quotes") === 12 ? v : undefined; });
    expect(requestsOn(fromB, "orders")).toBe(3);

    await b.stop();
    const after = await topology(a.url("gateway"));
    expect({ quotes: requestsOn(after, "quotes"), orders: requestsOn(after, "orders"), sources: after.sources?.length }).toEqual({ quotes: 5, orders: 0, sources: 1 });
  }, WORK_MS);
});

describe("host.workers: 2 on one Redis", () => {
  const p = prefix("workers");
  const dir = tempDir("tradpal-topology-workers-");
  const port = freePort();
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  afterAll(async () => { proc?.kill("SIGTERM"); await proc?.exited; rmSync(dir, { recursive: true, force: true }); });

  test("GET /topology from either worker counts the requests both proxied", async () => {
    writeFileSync(join(dir, "config.yaml"), `host:\n  data_dir: ${join(dir, "data")}\n  bind: 127.0.0.1\n  log_level: info\n  workers: 2\n  redis_url: "${SHARED_REDIS_URL}"\nplugins:\n  gateway:\n    port: ${port}\n    access_log: { enabled: false }\n${gateway(p)}`);
    const spawned = Bun.spawn(["bun", "run", join(import.meta.dir, "../../../src/main.ts"), "--config", join(dir, "config.yaml"), "--only", "gateway"], {
      cwd: dir, env: { ...process.env, REDIS_URL: "", TRADPAL_PLATFORM: `topology-workers-${process.pid}` }, stdout: "pipe", stderr: "pipe",
    });
    proc = spawned;
    let out = "";
    for (const s of [spawned.stdout, spawned.stderr]) void (async () => { for await (const c of s) out += new TextDecoder().decode(c); })();
    const url = `http://127.0.0.1:${port}`;
    // Both workers up: each logged "host started" (its gateway listens: a worker publishes its field as
    // the gateway is built, before the port is bound, so two fields alone let all the requests below go to
    // the one worker listening yet) and its field is in the store.
    const started = () => out.split("\n").filter((l) => l.startsWith("{") && l.includes(`"msg":"host started"`)).length;
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      await until("two workers listening and publishing", async () => (started() === 2 && (await redis.hlen(`${p}topology`)) === 2 ? true : undefined), 20_000)
        .catch((err: Error) => { throw new Error(`${err.message}\n${out}`); });
    } finally {
      redis.disconnect();
    }
    // New connections: the kernel spreads them over the two workers (SO_REUSEPORT).
    const N = 40;
    for (let i = 0; i < N; i++) expect((await fetch(`${url}/api/quotes/${i}`, { headers: { connection: "close" } })).status).toBe(200);
    const views = await until("every request counted", async () => {
      const vs = await Promise.all(Array.from({ length: 4 }, () => fetch(`${url}/topology`, { headers: { connection: "close" } }).then((r) => r.json() as Promise<View>)));
      return vs.every((v) => requestsOn(v, "quotes") === N) ? vs : undefined;
    });
    // Both workers proxied some of them (one edge each), and every answer merged the two.
    for (const v of views) expect(v.sources!.map((s) => s.edges)).toEqual([1, 1]);
  }, WORK_MS);
});

afterAll(() => origin.stop(true));
