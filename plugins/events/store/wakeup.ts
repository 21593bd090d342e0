/**
 * In-process wake-up for the embedded store's blocking reads (the role BLOCK plays in XREADGROUP):
 * a reader waits on its stream until an append notifies it or the timeout passes.
 */

const waiters = new Map<string, Set<() => void>>();

/** Resolves on the stream's next append, after `timeoutMs`, or when `signal` aborts (the reader is gone), whichever is first. */
export function waitForAppend(stream: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    let set = waiters.get(stream);
    if (!set) waiters.set(stream, (set = new Set()));
    const done = () => { clearTimeout(timer); set!.delete(done); signal?.removeEventListener("abort", done); resolve(); };
    const timer = setTimeout(done, timeoutMs);
    set.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export function notifyAppend(stream: string): void {
  const set = waiters.get(stream);
  if (!set || set.size === 0) return;
  for (const wake of [...set]) wake();
}
