/**
 * What a config file would change against the running platform (`bun run start --check --diff`): plugins
 * added, removed, restarted (settings changed), moved (port), or untouched, and inside a plugin the
 * settings that differ — list items that carry a `name` (the gateway's services) matched by name — each
 * with the line of the file where it is, when it is in the file.
 */
import { locate } from "../config/locate";
import type { ConfigView } from "./config-view";

export interface Change {
  /** 1-based line in the new file, when the changed thing is in it. */
  line?: number;
  path: string;
  what: string;
}

type Seg = string | number;

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? "undefined";
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
};

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const named = (v: unknown): v is { name: string }[] => Array.isArray(v) && v.length > 0 && v.every((e) => isObj(e) && typeof e.name === "string");

/** Leaf differences between two values: [document path (indexes of the new file), display path, what]. */
function leafDiff(a: unknown, b: unknown, doc: Seg[], shown: string, out: [Seg[] | undefined, string, string][]): void {
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) leafDiff(a[k], b[k], [...doc, k], `${shown}.${k}`, out);
    return;
  }
  if ((named(a) || named(b)) && Array.isArray(a) && Array.isArray(b)) {
    const before = new Map((a as { name: string }[]).map((e) => [e.name, e]));
    (b as { name: string }[]).forEach((e, i) => {
      const old = before.get(e.name);
      if (old === undefined) out.push([[...doc, i], `${shown}[${e.name}]`, "added"]);
      else leafDiff(old, e, [...doc, i], `${shown}[${e.name}]`, out);
      before.delete(e.name);
    });
    for (const name of before.keys()) out.push([undefined, `${shown}[${name}]`, "removed"]);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push([doc, shown, `${show(a)} → ${show(b)}`]);
}

export function diffConfigs(running: ConfigView, next: ConfigView, source: string): Change[] {
  const changes: Change[] = [];
  const lineOf = (doc: Seg[] | undefined) => (doc === undefined ? undefined : locate(source, doc).line);
  const hostDiffs: [Seg[] | undefined, string, string][] = [];
  leafDiff(running.host, next.host, ["host"], "host", hostDiffs);
  for (const [doc, path, what] of hostDiffs) changes.push({ line: lineOf(doc), path, what: `${what} (host settings: every plugin is rebuilt)` });
  for (const [id, p] of Object.entries(next.plugins)) {
    const old = running.plugins[id];
    const at: Seg[] = ["plugins", id];
    if (old === undefined) { changes.push({ line: lineOf(at), path: `plugins.${id}`, what: `added (port ${p.port})` }); continue; }
    if (old.port !== p.port || old.hostname !== p.hostname) changes.push({ line: lineOf([...at, "port"]), path: `plugins.${id}`, what: `moved ${old.hostname}:${old.port} → ${p.hostname}:${p.port} (the new port binds first, the old one lingers)` });
    const diffs: [Seg[] | undefined, string, string][] = [];
    leafDiff(old.settings, p.settings, at, `plugins.${id}`, diffs);
    if (diffs.length > 0) changes.push({ line: lineOf(at), path: `plugins.${id}`, what: "restarted (a new instance is built, swapped in, the old one drained)" });
    for (const [doc, path, what] of diffs) changes.push({ line: lineOf(doc), path, what });
    if (diffs.length === 0 && hostDiffs.length === 0 && old.port === p.port && old.hostname === p.hostname) changes.push({ path: `plugins.${id}`, what: "untouched" });
  }
  for (const id of Object.keys(running.plugins)) if (!(id in next.plugins)) changes.push({ path: `plugins.${id}`, what: "removed (stopped after draining)" });
  return changes;
}

/** `file:line: path: what` lines, as --check prints its errors. */
export function formatChanges(file: string, changes: readonly Change[]): string {
  return changes.map((c) => `${c.line !== undefined ? `${file}:${c.line}: ` : `${file}: `}${c.path}: ${c.what}`).join("\n");
}
