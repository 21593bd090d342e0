/**
 * Durability under faults:
 *  - Redis (appendonly, fsync always) restarted while publishing: every event answered 201 is there
 *    afterwards; publishes during the outage get 503 quickly, never a hang or a 500.
 *  - The host process SIGKILLed under load on the embedded store: every 201'd event is there after restart,
 *    and every 201'd keyed publish repeated after the restart is answered as a duplicate with its first position.
 */
import { describe, test, expect, afterAll } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { startHost, startPrivateRedis, freePort, tempDir, type PrivateRedis, type TestHost } from "../../../test/support/harness";
import { json } from "./support";

interface Outcome { status: number; ms: number; streamId?: string; key?: string; i: number }

const faultEvent = (i: number) => json({ type: "custom.fault", payload: { i } });

/** `workers` concurrent publishers until `until()` is true; every outcome recorded. `keyed`: every other publish carries an Idempotency-Key. */
async function publishLoop(url: string, workers: number, until: () => boolean, max = 50_000, keyed = false): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let n = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!until() && n < max) {
      const i = n++;
      const key = keyed && i % 2 === 0 ? `fault-${i}` : undefined;
      const started = performance.now();
      try {
        const req = faultEvent(i);
        if (key) (req.headers as Record<string, string>)["idempotency-key"] = key;
        const r = await fetch(url, { ...req, signal: AbortSignal.timeout(5000) });
        const body = (await r.json()) as any;
        out.push({ status: r.status, ms: performance.now() - started, streamId: body.streamId, key, i });
        if (r.status !== 201) await Bun.sleep(5);
      } catch {
        out.push({ status: 0, ms: performance.now() - started, key, i });
        await Bun.sleep(5);
      }
    }
  }));
  return out;
}

describe("Redis restarted during publishing", () => {
  let redis: PrivateRedis;
  let t: TestHost;
  afterAll(async () => {
    await t?.stop();
    await redis?.stop();
    if (redis) rmSync(redis.dir, { recursive: true, force: true });
  });

  test("every 201'd event survives; the outage answers 503 fast", async () => {
    redis = await startPrivateRedis({ appendonly: true });
    t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  redis_url: "${redis.url}"
plugins:
  events:
    port: 0
    redis_command_timeout: 1s
`);
    const url = `${t.url("events")}/events`;
    let phase = "before";
    const loop = publishLoop(url, 8, () => phase === "done");
    await Bun.sleep(500);
    phase = "down";
    await redis.stop();
    await Bun.sleep(800);
    const health = await fetch(`${t.url("events")}/health`);
    expect(health.status).toBe(503);
    await redis.start();
    phase = "after";
    const deadline = Date.now() + 8000;
    // run until publishing succeeds again for a while
    for (;;) {
      await Bun.sleep(200);
      const h = await fetch(`${t.url("events")}/health`);
      if (h.status === 200 || Date.now() > deadline) break;
    }
    await Bun.sleep(500);
    phase = "done";
    const outcomes = await loop;

    const statuses = new Set(outcomes.map((o) => o.status));
    expect([...statuses].filter((s) => s !== 201 && s !== 503)).toEqual([]);
    const failed = outcomes.filter((o) => o.status === 503);
    expect(failed.length).toBeGreaterThan(0);
    expect(Math.max(...failed.map((o) => o.ms))).toBeLessThan(2500);
    const ok = outcomes.filter((o) => o.status === 201);
    expect(ok.length).toBeGreaterThan(50);

    const r = new Redis(redis.url);
    const present = new Set<string>();
    let start = "-";
    for (;;) {
      const entries = (await r.xrange("tradpal_events", start, "+", "COUNT", 5000)) as [string, string[]][];
      for (const [id] of entries) present.add(id);
      if (entries.length < 5000) break;
      start = `(${entries[entries.length - 1][0]}`;
    }
    r.disconnect();
    const lost = ok.filter((o) => !present.has(o.streamId!));
    console.log(`redis restart: ${ok.length} x 201, ${failed.length} x 503 (slowest ${Math.round(Math.max(...failed.map((o) => o.ms)))} ms), ${lost.length} lost`);
    expect(lost.length).toBe(0);
    // the seed's debug command shows the stream the service writes
    const xinfo = Bun.spawnSync(["redis-cli", "-p", String(redis.port), "XINFO", "STREAM", "tradpal_events"]).stdout.toString();
    expect(xinfo).toContain("length");
    expect(xinfo.split("\n")[1].trim()).toBe(String(present.size));
    // publishing works again after the restart
    expect(outcomes.slice(-20).some((o) => o.status === 201)).toBe(true);
  }, 30_000);
});

describe("SIGKILL of the host under load (embedded store)", () => {
  const dir = tempDir("tradpal-events-kill-");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("every 201'd event is there after restart; a 201'd keyed publish repeated after it is a duplicate with its first position", async () => {
    const port = freePort();
    const config = join(dir, "config.yaml");
    writeFileSync(config, `host:\n  data_dir: ${join(dir, "data")}\n  redis_url: ""\nplugins:\n  events:\n    port: ${port}\n    hostname: 127.0.0.1\n`);
    const spawn = () => Bun.spawn(["bun", "run", join(import.meta.dir, "../../../src/main.ts"), "--config", config, "--only", "events"], { stdout: "ignore", stderr: "ignore", env: { ...process.env, REDIS_URL: "" } });
    const base = `http://127.0.0.1:${port}`;
    const waitUp = async () => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        try { if ((await fetch(`${base}/health`)).ok) return; } catch { /* not yet */ }
        await Bun.sleep(50);
      }
      throw new Error("host did not come up");
    };
    let child = spawn();
    try {
      await waitUp();
      let killed = false;
      const loop = publishLoop(`${base}/events`, 16, () => killed, 50_000, true);
      await Bun.sleep(1200);
      child.kill("SIGKILL");
      await child.exited;
      killed = true;
      const outcomes = await loop;
      const ok = outcomes.filter((o) => o.status === 201);
      expect(ok.length).toBeGreaterThan(100);

      child = spawn();
      await waitUp();
      const present = new Set<string>();
      let after = "";
      for (let guard = 0; guard < 1000; guard++) {
        const p = (await (await fetch(`${base}/events?limit=1000${after ? `&after=${after}` : ""}`)).json()) as any;
        for (const e of p.events) present.add(e.streamId);
        if (!p.next) break;
        after = p.next;
      }
      const lost = ok.filter((o) => !present.has(o.streamId!));
      console.log(`sigkill: ${ok.length} x 201 before the kill, ${outcomes.length - ok.length} failed (connection reset), ${present.size} stored after restart, ${lost.length} lost`);
      expect(lost.length).toBe(0);

      // The Idempotency-Key records were committed with their events: repeats after the restart store nothing.
      const keyedOk = ok.filter((o) => o.key !== undefined).slice(0, 2000);
      expect(keyedOk.length).toBeGreaterThan(50);
      const lengthBefore = ((await (await fetch(`${base}/events/stats`)).json()) as any).length;
      for (let at = 0; at < keyedOk.length; at += 50) {
        await Promise.all(keyedOk.slice(at, at + 50).map(async (o) => {
          const req = faultEvent(o.i);
          (req.headers as Record<string, string>)["idempotency-key"] = o.key!;
          const r = await fetch(`${base}/events`, req);
          expect([r.status, await r.json()]).toMatchObject([201, { streamId: o.streamId, duplicate: true }]);
        }));
      }
      expect(((await (await fetch(`${base}/events/stats`)).json()) as any).length).toBe(lengthBefore);
      console.log(`sigkill: ${keyedOk.length} keyed publishes repeated after the restart, all duplicates of their first position`);
    } finally {
      child.kill("SIGKILL");
      await child.exited;
    }
  }, 40_000);
});
