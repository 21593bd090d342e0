/**
 * host.workers (issue 16): `bun run start` with `workers: 2` runs a supervisor and two processes on the
 * same gateway port (SO_REUSEPORT). A worker SIGKILLed under load is restarted and only requests it had in
 * flight or not yet accepted fail; a config rewrite under load fails none and reaches both workers; SIGTERM stops them all.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { freePort, tempDir } from "./support/harness";

const ROOT = join(import.meta.dir, "..");
const dir = tempDir("tradpal-workers-");
const file = join(dir, "config.yaml");
const gwPort = freePort();
const upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
let out = "";
let sup: ReturnType<typeof Bun.spawn>;

const config = (tag: string) => `
host:
  data_dir: ${join(dir, "data")}
  bind: 127.0.0.1
  workers: 2
  reload_debounce: 50ms
plugins:
  gateway:
    port: ${gwPort}
    access_log: { enabled: false }
    rate_limiting: { enabled: false }
    services:
      - name: up
        path_prefix: /up
        instances: [{ url: "http://127.0.0.1:${upstream.port}" }]
        health_check: { enabled: false }
        transform: { response_headers: { set: { x-config: "${tag}" } } }
  breaker:
    port: ${freePort()}
`;

/** Supervisor log lines of one kind. */
const lines = (msg: string) => out.split("\n").filter((l) => l.startsWith("{") && l.includes(msg)).map((l) => JSON.parse(l)).filter((j) => String(j.msg).startsWith(msg));

beforeAll(async () => {
  writeFileSync(file, config("v1"));
  sup = Bun.spawn(["bun", "run", join(ROOT, "src/main.ts"), "--config", file], { cwd: ROOT, env: { ...process.env, REDIS_URL: "" }, stdout: "pipe", stderr: "pipe" });
  for (const s of [sup.stdout, sup.stderr] as ReadableStream<Uint8Array>[]) void (async () => { for await (const c of s) out += new TextDecoder().decode(c); })();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && lines("host started").length < 2) await Bun.sleep(50);
  if (lines("host started").length < 2) throw new Error(`workers did not start:\n${out}`);
}, 30_000);

afterAll(async () => {
  sup?.kill("SIGKILL");
  upstream.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

async function load(n: number, concurrency: number, during?: { after: number; run: () => void }) {
  const statuses = new Map<number, number>();
  const configs = new Set<string>();
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      const r = await fetch(`http://127.0.0.1:${gwPort}/up/x`, { headers: { connection: "close" } }).then(async (res) => { await res.text(); configs.add(res.headers.get("x-config") ?? ""); return res.status; }, () => -1);
      statuses.set(r, (statuses.get(r) ?? 0) + 1);
      if (++done === during?.after) during.run();
    }
  }));
  return { statuses, configs };
}

test("two workers serve the port; the first start creates one admin user", async () => {
  const started = lines("supervisor started")[0];
  expect(started.workers.map((w: { plugins: string[] }) => w.plugins)).toEqual([["gateway", "breaker"], ["gateway"]]);
  expect(lines("first start: created the login user").length).toBe(1);
  const { statuses } = await load(200, 8);
  expect(statuses.get(200)).toBe(200);
});

test("a worker SIGKILLed under load is restarted; only what it had in flight or in its accept queue fails", async () => {
  const victim = lines("supervisor started")[0].workers[1].pid as number;
  const { statuses } = await load(3000, 8, { after: 500, run: () => process.kill(victim, "SIGKILL") });
  const failed = [...statuses].filter(([s]) => s !== 200).reduce((a, [, n]) => a + n, 0);
  // 8 in flight at most, plus connections the kernel had queued on the dead worker's socket (reset with it).
  expect(failed).toBeLessThan(3000 * 0.01);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && lines("host started").length < 3) await Bun.sleep(50);
  expect(lines("worker exited; restarting it")[0]).toMatchObject({ worker: 1, signal: "SIGKILL" });
  expect(lines("host started").length).toBe(3);
}, 30_000);

test("a config rewrite under load fails no request and reaches both workers", async () => {
  const run = load(4000, 8, { after: 300, run: () => writeFileSync(file, config("v2")) });
  const { statuses } = await run;
  expect([...statuses.keys()]).toEqual([200]);
  const after = await load(100, 4);
  expect([...after.configs]).toEqual(["v2"]);
  expect(readFileSync(file, "utf8")).toContain("v2");
}, 30_000);

test("SIGTERM stops the supervisor and every worker", async () => {
  sup.kill("SIGTERM");
  const code = await Promise.race([sup.exited, Bun.sleep(20_000).then(() => "timeout")]);
  expect(code).toBe(0);
  const alive = await fetch(`http://127.0.0.1:${gwPort}/up/x`).then(() => true, () => false);
  expect(alive).toBe(false);
}, 30_000);
