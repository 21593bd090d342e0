/**
 * A lock between processes on one machine (the host's workers share one PKI directory): a lock file
 * created with O_EXCL, holding the owner's pid. A lock older than `staleMs` or whose owner is gone is
 * taken over, so a process killed while holding it blocks nobody for long.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";

export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: { waitMs?: number; staleMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? 30_000);
  const staleMs = opts.staleMs ?? 60_000;
  for (;;) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (isStale(file, staleMs)) { try { unlinkSync(file); } catch { /* another waiter took it over first */ } continue; }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${file}`);
      await Bun.sleep(25);
    }
  }
  try {
    return await fn();
  } finally {
    try { unlinkSync(file); } catch { /* already gone */ }
  }
}

function isStale(file: string, staleMs: number): boolean {
  try {
    if (Date.now() - statSync(file).mtimeMs > staleMs) return true;
    const pid = Number(readFileSync(file, "utf8"));
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH" || (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}
