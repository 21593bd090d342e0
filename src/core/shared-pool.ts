/**
 * State that must outlive a plugin instance (reload swaps instances, not pools).
 * Keys are identities chosen by the plugin, conventionally prefixed with its id: "gateway:upstream:http://a:1".
 */

export interface SharedPool {
  getOrCreate<T>(key: string, create: () => T): T;
  get<T>(key: string): T | undefined;
  has(key: string): boolean;
  /** Remove (and close, if it has close/quit/stop/disconnect) one entry. */
  delete(key: string): Promise<void>;
  keys(prefix?: string): string[];
  /** Close everything: host shutdown only. */
  closeAll(): Promise<void>;
}

async function closeValue(value: unknown): Promise<void> {
  if (!value || typeof value !== "object") return;
  const v = value as Record<string, unknown>;
  for (const method of ["close", "quit", "stop", "disconnect"]) {
    if (typeof v[method] === "function") {
      try { await (v[method] as () => unknown).call(v); } catch { /* closing is best effort */ }
      return;
    }
  }
}

export function createSharedPool(): SharedPool {
  const entries = new Map<string, unknown>();
  return {
    getOrCreate<T>(key: string, create: () => T): T {
      if (entries.has(key)) return entries.get(key) as T;
      const value = create();
      entries.set(key, value);
      return value;
    },
    get<T>(key: string) { return entries.get(key) as T | undefined; },
    has(key) { return entries.has(key); },
    async delete(key) {
      const value = entries.get(key);
      entries.delete(key);
      await closeValue(value);
    },
    keys(prefix) {
      const all = [...entries.keys()];
      return prefix ? all.filter((k) => k.startsWith(prefix)) : all;
    },
    async closeAll() {
      const values = [...entries.values()].reverse();
      entries.clear();
      for (const v of values) await closeValue(v);
    },
  };
}
