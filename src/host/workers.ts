/**
 * `host.workers: N | auto`: N processes of the host on the same ports (SO_REUSEPORT, the kernel spreads
 * connections), under one supervisor. The plugins in `host.worker_plugins` (the gateway by default) run in
 * every worker; the rest run once, in worker 0, because their state lives in one process (the CA, the
 * secrets journal, the embedded event store). With host.redis_url set the workers' buses are bridged, so
 * they cooperate as one process; without it each extra worker says what it cannot do (cooperation.ts).
 *
 * The supervisor restarts a worker that dies (backoff 100 ms doubling to 5 s, reset after 30 s up), passes
 * SIGHUP on (each worker also watches the file and reloads itself with the usual zero-drop swap), and on
 * SIGTERM/SIGINT stops every worker and waits for them.
 */
import { availableParallelism } from "node:os";
import type { Logger } from "../core/log";

export const WORKER_ENV = "TRADPAL_WORKER";
export const WORKERS_ENV = "TRADPAL_WORKERS";

export function workerCount(setting: number | "auto"): number {
  return setting === "auto" ? Math.max(1, availableParallelism()) : setting;
}

/** Which plugins worker `index` hosts: everything (of `only`) in worker 0, the replicated ones elsewhere. */
export function workerPlugins(index: number, all: readonly string[], replicated: readonly string[]): string[] {
  return index === 0 ? [...all] : all.filter((id) => replicated.includes(id));
}

export interface SupervisorOptions {
  count: number;
  /** Plugin ids per worker (index → ids); a worker with none is not started. */
  plugins: string[][];
  /** The command line of a worker, without --only (added per worker). */
  argv: string[];
  log: Logger;
  /** How long SIGTERM waits for the workers before killing them. */
  graceMs: number;
}

interface Slot { index: number; proc?: ReturnType<typeof Bun.spawn>; startedAt: number; failures: number; timer?: Timer }

export async function runSupervisor(o: SupervisorOptions): Promise<never> {
  let stopping = false;
  const slots: Slot[] = [];
  const spawn = (s: Slot) => {
    s.startedAt = Date.now();
    s.proc = Bun.spawn([...o.argv, "--only", o.plugins[s.index].join(",")], {
      env: { ...process.env, [WORKER_ENV]: String(s.index), [WORKERS_ENV]: String(o.count) },
      stdout: "inherit", stderr: "inherit",
      onExit: (_p, code, signal) => {
        if (stopping) return;
        if (Date.now() - s.startedAt > 30_000) s.failures = 0;
        const delay = Math.min(5000, 100 * 2 ** s.failures++);
        o.log.error("worker exited; restarting it", { worker: s.index, code, signal, restart_in_ms: delay, restarts: s.failures });
        s.timer = setTimeout(() => spawn(s), delay);
      },
    });
  };
  for (let i = 0; i < o.count; i++) {
    if (o.plugins[i].length === 0) continue;
    const s: Slot = { index: i, startedAt: 0, failures: 0 };
    slots.push(s);
    spawn(s);
  }
  o.log.info("supervisor started", { workers: slots.map((s) => ({ worker: s.index, pid: s.proc?.pid, plugins: o.plugins[s.index] })) });
  process.on("SIGHUP", () => { for (const s of slots) s.proc?.kill("SIGHUP"); });
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    o.log.info("supervisor stopping workers", { signal });
    for (const s of slots) { if (s.timer) clearTimeout(s.timer); s.proc?.kill("SIGTERM"); }
    const all = Promise.all(slots.map((s) => s.proc?.exited));
    const late = await Promise.race([all.then(() => false), Bun.sleep(o.graceMs + 5000).then(() => true)]);
    if (late) for (const s of slots) s.proc?.kill("SIGKILL");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  return new Promise<never>(() => {});
}
