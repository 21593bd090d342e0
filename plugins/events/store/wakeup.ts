/**
 * In-process wake-up for the embedded store's blocking reads (the role BLOCK plays in XREADGROUP):
 * a reader waits on its stream until an append notifies it or the timeout passes.
 */

const waiters = new Map<string, Set<() => void>>();

export function waitForAppend(stream: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    let set = waiters.get(stream);
    if (!set) waiters.set(stream, (set = new Set()));
    const done = () => { clearTimeout(timer); set!.delete(done); resolve(); };
    const timer = setTimeout(done, timeoutMs);
    set.add(done);
  });
}

export function notifyAppend(stream: string): void {
  const set = waiters.get(stream);
  if (!set || set.size === 0) return;
  for (const wake of [...set]) wake();
}
