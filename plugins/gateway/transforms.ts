/**
 * Per-route transformations compiled at provision time into flat op lists: add/set/remove/rename of
 * request and response headers, a path rewrite (regex) and query edits. An empty rule set compiles
 * to `undefined` so the hot path skips it entirely.
 */
import type { HeaderRules, TransformSettings } from "./schema";

type HeaderOp =
  | { kind: "remove"; name: string }
  | { kind: "rename"; from: string; to: string }
  | { kind: "set"; name: string; value: string }
  | { kind: "add"; name: string; value: string };

export type HeaderProgram = readonly HeaderOp[];

/** Order: remove, rename, set, add, so "rename then set" compose predictably. */
export function compileHeaderRules(rules: HeaderRules): HeaderProgram | undefined {
  const ops: HeaderOp[] = [];
  for (const name of rules.remove) ops.push({ kind: "remove", name: name.toLowerCase() });
  for (const [from, to] of Object.entries(rules.rename)) ops.push({ kind: "rename", from: from.toLowerCase(), to: to.toLowerCase() });
  for (const [name, value] of Object.entries(rules.set)) ops.push({ kind: "set", name: name.toLowerCase(), value });
  for (const [name, value] of Object.entries(rules.add)) ops.push({ kind: "add", name: name.toLowerCase(), value });
  return ops.length ? ops : undefined;
}

export function applyHeaderProgram(headers: Headers, program: HeaderProgram): void {
  for (const op of program) {
    switch (op.kind) {
      case "remove": headers.delete(op.name); break;
      case "rename": {
        const v = headers.get(op.from);
        if (v !== null) { headers.delete(op.from); headers.set(op.to, v); }
        break;
      }
      case "set": headers.set(op.name, op.value); break;
      case "add": headers.append(op.name, op.value); break;
    }
  }
}

export interface UrlProgram {
  path?: { pattern: RegExp; replacement: string };
  querySet: readonly (readonly [string, string])[];
  queryRemove: readonly string[];
  queryRename: readonly (readonly [string, string])[];
}

export function compileUrlRules(t: TransformSettings): UrlProgram | undefined {
  const querySet = Object.entries(t.query.set);
  const queryRename = Object.entries(t.query.rename);
  if (!t.path && querySet.length === 0 && t.query.remove.length === 0 && queryRename.length === 0) return undefined;
  return {
    path: t.path ? { pattern: new RegExp(t.path.pattern), replacement: t.path.replacement } : undefined,
    querySet,
    queryRemove: t.query.remove,
    queryRename,
  };
}

/** Rewrite the upstream path and query ("?a=1" or ""). Returns the new path+query. */
export function applyUrlProgram(path: string, query: string, program: UrlProgram): string {
  let p = program.path ? path.replace(program.path.pattern, program.path.replacement) : path;
  if (p.charCodeAt(0) !== 47) p = "/" + p;
  if (program.querySet.length === 0 && program.queryRemove.length === 0 && program.queryRename.length === 0) return p + query;
  const params = new URLSearchParams(query);
  for (const name of program.queryRemove) params.delete(name);
  for (const [from, to] of program.queryRename) {
    const values = params.getAll(from);
    if (values.length) { params.delete(from); for (const v of values) params.append(to, v); }
  }
  for (const [name, value] of program.querySet) params.set(name, value);
  const qs = params.toString();
  return qs ? `${p}?${qs}` : p;
}

export interface CompiledTransforms {
  request?: HeaderProgram;
  response?: HeaderProgram;
  url?: UrlProgram;
}

export function compileTransforms(t: TransformSettings): CompiledTransforms {
  return { request: compileHeaderRules(t.request_headers), response: compileHeaderRules(t.response_headers), url: compileUrlRules(t) };
}
