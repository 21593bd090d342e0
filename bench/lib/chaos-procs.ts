/**
 * Child processes of bench/chaos.bench.ts: a private redis-server, the origins, the platform. Every
 * spawn is tracked so that any exit of the bench — normal, thrown, Ctrl-C, SIGTERM, the hard time cap —
 * kills what it started (by pid, never by name) and removes its temp directory.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

type Proc = ReturnType<typeof Bun.spawn>;
const live = new Set<Proc>();
const dirs: string[] = [];

export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const p = s.port!;
  s.stop(true);
  return p;
}


/** Spawn and track; output goes to a log file (an unread pipe would block a chatty child). */
export function spawnTracked(cmd: string[], logFile: string, env: Record<string, string> = {}): Proc {
  const p = Bun.spawn(cmd, { stdout: Bun.file(logFile), stderr: Bun.file(`${logFile}.err`), stdin: "ignore", env: { ...process.env, ...env } });
  live.add(p);
  void p.exited.then(() => live.delete(p));
  return p;
}

/** Like spawnTracked, but stdout is a pipe the caller reads (the load generator's buckets). */
export function spawnPiped(cmd: string[], logFile: string): Proc & { stdout: ReadableStream<Uint8Array> } {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: Bun.file(logFile), stdin: "pipe" });
  live.add(p);
  void p.exited.then(() => live.delete(p));
  return p as Proc & { stdout: ReadableStream<Uint8Array> };
}

export async function sigkill(p: Proc | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode) return;
  p.kill("SIGKILL");
  await p.exited;
}

export function trackDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  dirs.push(dir);
  return dir;
}

let cleaned = false;
export function cleanupAll(keepDirs = false): void {
  if (cleaned) return;
  cleaned = true;
  for (const p of live) { try { p.kill("SIGKILL"); } catch { /* already gone */ } }
  live.clear();
  if (!keepDirs) for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** Signals and the hard cap end the run the same way: children first, then exit non-zero. */
export function installExitHandlers(hardCapMs: number): () => void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => { console.error(`chaos bench: ${sig}, stopping children`); cleanupAll(); process.exit(130); });
  process.on("exit", () => cleanupAll());
  const cap = setTimeout(() => { console.error(`chaos bench: hard cap of ${hardCapMs / 1000} s reached, stopping`); cleanupAll(true); process.exit(2); }, hardCapMs);
  return () => clearTimeout(cap);
}

/** Wait until a TCP port accepts (or throw): redis-server and the origins have no HTTP probe in common. */
export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(sock) { sock.end(); } } });
      void s;
      return;
    } catch { await Bun.sleep(20); }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/**
 * A private redis-server on a fixed port with an append-only file, so a SIGKILL and a start on the same
 * port and directory bring the stream (and the consumer group) back: appendonly yes, appendfsync always
 * (every write fsynced before the reply; under SIGKILL alone `everysec` would also keep every acknowledged
 * write, since the write(2) to the AOF happens before the reply — `always` also covers a power cut).
 */
export class PrivateRedis {
  proc?: Proc;
  readonly port = freePort();
  constructor(readonly dir: string) { trackDir(dir); }
  get url() { return `redis://127.0.0.1:${this.port}`; }
  static readonly SETTINGS = "appendonly yes, appendfsync always, RDB snapshots off (save \"\")";
  async start(): Promise<void> {
    this.proc = spawnTracked(["redis-server", "--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir,
      "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"], join(this.dir, "redis.log"));
    await waitForPort(this.port);
  }
  kill(): Promise<void> { return sigkill(this.proc); }
}
