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

/**
 * The same program over a flat [name, value, name, value...] list of lowercase names (the serialised
 * block's lines), with Headers semantics: rename joins the old values and replaces the new name, set
 * replaces, add appends. Lets the pooled client's one-pass header block carry request transforms.
 */
export function applyHeaderProgramToPairs(pairs: string[], program: HeaderProgram): string[] {
  let out = pairs;
  for (const op of program) {
    switch (op.kind) {
      case "remove": out = without(out, op.name); break;
      case "rename": {
        let joined: string | undefined;
        for (let i = 0; i < out.length; i += 2) if (out[i] === op.from) joined = joined === undefined ? out[i + 1] : joined + ", " + out[i + 1];
        if (joined !== undefined) { out = without(without(out, op.from), op.to); out.push(op.to, joined); }
        break;
      }
      case "set": out = without(out, op.name); out.push(op.name, op.value); break;
      case "add": out.push(op.name, op.value); break;
    }
  }
  return out;
}

function without(pairs: string[], name: string): string[] {
  let i = 0;
  while (i < pairs.length && pairs[i] !== name) i += 2;
  if (i >= pairs.length) return pairs;
  const out = pairs.slice(0, i);
  for (i += 2; i < pairs.length; i += 2) if (pairs[i] !== name) out.push(pairs[i], pairs[i + 1]);
  return out;
}

/** Names whose edits change message framing or routing: such programs take the Headers path. */
const FRAMING = new Set(["host", "content-length", "transfer-encoding", "connection"]);

/** True when a request program may run inside the serialised header block. */
export function blockSafe(program: HeaderProgram): boolean {
  return program.every((op) => op.kind === "rename" ? !FRAMING.has(op.from) && !FRAMING.has(op.to) : !FRAMING.has(op.name));
}

/** Fields the proxy sets on every forwarded request. */
const FORWARDING = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id", "traceparent"]);

/** A request program reduced to "skip these client fields, append these lines" (no per-request work). */
export interface BlockProgram {
  readonly skip: ReadonlySet<string>;
  readonly tail: string;
}

/**
 * Programs of remove/set/add only that leave framing and forwarding fields alone (the common case,
 * e.g. `set: { x-env: prod }`) compile to a BlockProgram; others return undefined (pairs path).
 */
export function compileBlockProgram(program: HeaderProgram | undefined): BlockProgram | undefined {
  if (program === undefined || !blockSafe(program)) return undefined;
  const skip = new Set<string>();
  let tail = "";
  for (const op of program) {
    if (op.kind === "rename" || FORWARDING.has(op.name)) return undefined;
    if (op.kind === "remove" || op.kind === "set") skip.add(op.name);
    if (op.kind === "set" || op.kind === "add") tail += op.name + ": " + op.value + "\r\n";
  }
  return { skip, tail };
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
  /** The request program can be applied to the pooled client's header block (touches no framing field). */
  requestInBlock: boolean;
  /** The request program as skip-set + appended lines, when it is that simple. */
  requestBlock?: BlockProgram;
  response?: HeaderProgram;
  url?: UrlProgram;
}

export function compileTransforms(t: TransformSettings): CompiledTransforms {
  const request = compileHeaderRules(t.request_headers);
  return { request, requestInBlock: request === undefined || blockSafe(request), requestBlock: compileBlockProgram(request), response: compileHeaderRules(t.response_headers), url: compileUrlRules(t) };
}
