/** Finds plugins/<id>/index.ts and imports its default export (a PluginDefinition). */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AnyPluginDefinition } from "../core/plugin";
import type { PluginResolver } from "../config/load";

export const PLUGINS_DIR = resolve(import.meta.dir, "../../plugins");

/**
 * Looks in `dirs` in order (the project's plugins/ first, then any --plugins-dir), so a deployment can
 * add its own plugins without touching this tree. `extra` maps ids to definitions directly (tests).
 */
export function directoryResolver(dirs: string | string[] = PLUGINS_DIR, extra: Record<string, AnyPluginDefinition> = {}): PluginResolver {
  const roots = Array.isArray(dirs) ? dirs : [dirs];
  return async (id) => {
    if (extra[id]) return extra[id];
    if (!/^[a-z][a-z0-9_-]*$/.test(id)) return undefined;
    const file = roots.map((root) => join(root, id, "index.ts")).find((f) => existsSync(f));
    if (!file) return undefined;
    const mod = await import(file);
    const def = (mod.default ?? mod.plugin) as AnyPluginDefinition | undefined;
    if (!def || typeof def.provision !== "function") throw new Error(`${file} has no default export from definePlugin()`);
    if (def.id !== id) throw new Error(`${file} declares id "${def.id}", expected "${id}"`);
    return def;
  };
}
