/**
 * In-process wake-up for the embedded store's blocking reads (the role BLOCK plays in XREADGROUP): a
 * stream's listeners are called on each of its appends. A listener is a function made once by its owner
 * (sqlite-blocked.ts), registered while it has readers waiting: no promise, closure or timer per wait.
 */

const listeners = new Map<string, (() => void)[]>();

export function onAppend(stream: string, fn: () => void): void {
  const list = listeners.get(stream);
  if (list === undefined) listeners.set(stream, [fn]);
  else if (!list.includes(fn)) list.push(fn);
}

export function offAppend(stream: string, fn: () => void): void {
  const list = listeners.get(stream);
  if (list === undefined) return;
  const at = list.indexOf(fn);
  if (at !== -1) list.splice(at, 1);
  if (list.length === 0) listeners.delete(stream);
}

export function notifyAppend(stream: string): void {
  const list = listeners.get(stream);
  if (list === undefined) return;
  // A listener takes itself off when called: a copy only when there is more than one (no array per append).
  if (list.length === 1) list[0]();
  else for (const fn of list.slice()) fn();
}
