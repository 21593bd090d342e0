/**
 * The servers the events benchmarks run: a private redis-server (appendonly, appendfsync everysec: an
 * acknowledged event survives its crash, as JetStream's and the embedded store's do) and events hosts
 * (`bun src/main.ts --only events`), each pinned where the bench says. One definition for every events bench.
 */
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import Redis from "ioredis";
import { waitForUrl } from "./measure";
import { freePort as freeTestPort } from "../../test/support/free-port";

export type Pin = (cpu: number, cmd: string[]) => string[];

export interface EventsServer { name: string; url: string; pid: number; stop(): void; gc?: GcCount }

/** An events server's garbage collections so far, from JSC's own log (BUN_JSC_logGC=1 on its stderr). */
export interface GcCount { eden: number; full: number; pauseMs: number }

/** Counts the GC lines of a server's stderr (each GC's kind and pause, "p=…ms"); its other lines pass through. */
async function countGcs(stderr: ReadableStream<Uint8Array>, gc: GcCount): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stderr) {
    buf += dec.decode(chunk, { stream: true });
    for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = / => (Eden|Full)Collection,.* p=([\d.]+)ms/.exec(line);
      if (m) { if (m[1] === "Eden") gc.eden++; else gc.full++; gc.pauseMs += Number(m[2]); }
      else if (!/^(\[GC<|Requesting GC|GC END)/.test(line)) process.stderr.write(line + "\n");
    }
  }
}

/** Moves every thread of `pid` onto `cpus` ("0,1", "1") now; nothing without taskset. */
export function setAffinity(pid: number, cpus: string): void {
  if (Bun.which("taskset")) Bun.spawnSync(["taskset", "-a", "-p", "-c", cpus, String(pid)], { stdout: "ignore", stderr: "ignore" });
}

export const freePort = (): number => freeTestPort("0.0.0.0");

/** A redis-server of the bench's own in `dir`, pinned to `cpu`; resolves once it answers. */
export async function startPrivateRedis(dir: string, pin: Pin, cpu: number): Promise<{ url: string; proc: ReturnType<typeof Bun.spawn> }> {
  const port = freePort();
  const proc = Bun.spawn(pin(cpu, ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]), { stdout: "ignore", stderr: "ignore" });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null }); c.on("error", () => {}); await c.connect(); c.disconnect(); break; } catch { await Bun.sleep(50); }
  }
  return { url, proc };
}

/** redis-server's forks so far and whether an AOF rewrite runs (its child on redis-server's CPU; copy-on-write faults in the parent). */
export async function aofRewrites(url: string): Promise<{ forks: number; rewriting: boolean }> {
  const r = new Redis(url);
  try {
    const info = await r.info("all");
    return { forks: Number(/total_forks:(\d+)/.exec(info)?.[1] ?? 0), rewriting: /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(info) };
  } finally { r.disconnect(); }
}

/**
 * Compact redis-server's AOF now, between measured rounds, and wait for the rewrite to end; its automatic
 * rewrites are turned off, so that none starts inside a round. A rewrite forks a
 * child that shares CPU 0 with wrk and costs the parent copy-on-write faults: with the stream filled by
 * earlier sections, automatic ones ran through most Redis rounds. The log is still appended and fsynced
 * every second, and still compacted: here, once it grew 16 MB past its last rewrite.
 */
export async function compactAof(url: string): Promise<void> {
  const r = new Redis(url);
  try {
    await r.config("SET", "auto-aof-rewrite-percentage", "0");
    const info = await r.info("persistence");
    const size = (k: string) => Number(new RegExp(`${k}:(\\d+)`).exec(info)?.[1] ?? 0);
    if (!/aof_rewrite_in_progress:1/.test(info) && size("aof_current_size") > size("aof_base_size") + 16 * 1024 * 1024) await r.bgrewriteaof().catch(() => undefined);
    for (let i = 0; i < 1200; i++) {
      if (!/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(await r.info("persistence"))) return;
      await Bun.sleep(50);
    }
  } finally { r.disconnect(); }
}

export interface EventsServerOptions {
  name: string;
  /** "" for the embedded store. */
  redisUrl: string;
  dir: string;
  stream: string;
  pin: Pin;
  cpu: number;
  /** A checkout to run (a BENCH_BASELINE export); this one by default. */
  root?: string;
  /** Extra lines of the events block (indented four spaces). */
  extra?: string;
  /** Count the server's GCs (JSC logs each on its stderr): `gc` of the result. */
  countGc?: boolean;
}

/** An events host on a free port with the bench's stream (max_batch 1000, max_len 2M), once /health answers. */
export async function startEventsServer(o: EventsServerOptions): Promise<EventsServer> {
  const port = freePort();
  const id = o.name.replace(/\W+/g, "_");
  const cfg = join(o.dir, `${id}.yaml`);
  writeFileSync(cfg, `host:\n  data_dir: ${join(o.dir, id)}\n  redis_url: "${o.redisUrl}"\n  log_level: warn\nplugins:\n  events:\n    port: ${port}\n    hostname: 127.0.0.1\n    stream: ${o.stream}\n    max_batch: 1000\n    max_len: 2000000\n${o.extra ?? ""}`);
  const root = o.root ?? join(import.meta.dir, "..", "..");
  const env = { ...process.env, REDIS_URL: o.redisUrl, ...(o.countGc ? { BUN_JSC_logGC: "1" } : {}) };
  const p = Bun.spawn(o.pin(o.cpu, ["bun", "run", join(root, "src/main.ts"), "--config", cfg, "--only", "events"]), { stdout: "ignore", stderr: o.countGc ? "pipe" : "inherit", env });
  let gc: GcCount | undefined;
  if (o.countGc) void countGcs(p.stderr as ReadableStream<Uint8Array>, (gc = { eden: 0, full: 0, pauseMs: 0 }));
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(`${url}/health`);
  return { name: o.name, url, pid: p.pid, stop: () => p.kill(), gc };
}
