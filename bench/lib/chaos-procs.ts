/**
 * Child processes of bench/chaos.bench.ts: a private redis-server, the origins, the platform. Every
 * spawn is tracked so that any exit of the bench — normal, thrown, Ctrl-C, SIGTERM, the hard time cap —
 * kills what it started (by pid, never by name) and removes its temp directory.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

type Proc = ReturnType<typeof Bun.spawn>;
const live = new Set<Proc>();
const dirs: string[] = [];

import { freePort } from "../../test/support/free-port";
export { freePort };


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

/** Direct children of a process, from /proc (every thread's children list); [] when it is gone. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)); } catch { /* thread gone */ }
    }
  } catch { /* process gone */ }
  return out;
}

/** Every descendant of a process (children first found, then theirs), e.g. the workers under a `host.workers` supervisor. */
export function descendantPids(pid: number): number[] {
  const out: number[] = [];
  const queue = childPids(pid);
  for (let i = 0; i < queue.length && i < 10_000; i++) { out.push(queue[i]); queue.push(...childPids(queue[i])); }
  return out;
}

let cleaned = false;
export function cleanupAll(keepDirs = false): void {
  if (cleaned) return;
  cleaned = true;
  // A tracked process's own children (a supervisor's workers) would outlive a SIGKILL of their parent: taken first.
  const orphans = [...live].flatMap((p) => (p.exitCode === null ? descendantPids(p.pid) : []));
  for (const p of live) { try { p.kill("SIGKILL"); } catch { /* already gone */ } }
  for (const pid of orphans) { try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ } }
  live.clear();
  if (!keepDirs) for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** Signals and the hard cap end the run the same way: children first, then exit non-zero. */
export function installExitHandlers(hardCapMs: number, label = "chaos bench"): () => void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => { console.error(`${label}: ${sig}, stopping children`); cleanupAll(); process.exit(130); });
  process.on("exit", () => cleanupAll());
  const cap = setTimeout(() => { console.error(`${label}: hard cap of ${hardCapMs / 1000} s reached, stopping`); cleanupAll(true); process.exit(2); }, hardCapMs);
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

/**
 * Which platform code ran, for a results section: others edit the checkout at the same time, so uncommitted
 * files under src/ and plugins/ are counted. `root` is the checkout the platform was started from.
 */
export function codeLabel(root: string, fallback = "unknown (not a git checkout)"): string {
  const git = (args: string[]) => Bun.spawnSync(["git", "-C", root, ...args]).stdout.toString().trim();
  const sha = git(["rev-parse", "--short", "HEAD"]);
  if (!sha) return fallback;
  const dirty = git(["status", "--porcelain", "--", "src", "plugins"]).split("\n").filter(Boolean).length;
  return `commit ${sha}${dirty ? ` + ${dirty} uncommitted file(s) under src/ and plugins/` : " (src/ and plugins/ clean)"}`;
}
