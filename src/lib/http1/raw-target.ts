/**
 * The request-target as the client sent it, for requests the wire front relays to the inner
 * Bun.serve: Bun's URL parser resolves "%2e%2e", "./" and "\" before a fetch handler sees req.url,
 * so a plugin that must refuse those (the gateway's path rules) could not see them on the slow lane.
 * The front sends the target in TARGET_FIELD only when it holds "%", "\" or "/." (a client's own
 * field of that name is dropped); the inner dispatcher moves it here, keyed by the Request.
 */
export const TARGET_FIELD = "x-tradpal-target";

const targets = new WeakMap<Request, string>();

/** The target as sent, when it differs in a way Bun's URL parser would resolve; else undefined. */
export function rawTarget(req: Request): string | undefined {
  return targets.get(req);
}

export function setRawTarget(req: Request, target: string): void {
  targets.set(req, target);
}

/** Whether Bun's URL parser could change this origin-form target's path ("%", "\", "/."). */
export function targetNeedsRaw(target: string): boolean {
  if (target.charCodeAt(0) !== 47) return false;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */) return false;
    if (c === 37 || c === 92 || (c === 47 && target.charCodeAt(i + 1) === 46)) return true;
  }
  return false;
}
