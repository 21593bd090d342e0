/**
 * Structural checks of Falco rules files loaded together, in order (Falco collects every file, then
 * compiles): item kinds and required keys, priorities, unique rule names, append/override targets,
 * exceptions, and every macro a condition uses defined (via condition.ts). Each problem has file:line.
 * Returns the rules ready for the engine: their expanded conditions with exceptions (disabled rules too:
 * whoever enables one later needs it to compile).
 */
import { expand, listItem, type Defs } from "./condition";
import { keyLine, offsetLine, wordLine, type Item, type LoadedFile, type Problem } from "./load";

const PRIORITIES = new Set(["emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"]);
const COMPS = new Set(["=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "in", "intersects", "pmatch"]);
const KNOWN_KEYS: Record<string, Set<string>> = {
  rule: new Set(["rule", "desc", "condition", "output", "priority", "tags", "exceptions", "enabled", "source", "append", "override", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"]),
  macro: new Set(["macro", "condition", "append", "override"]),
  list: new Set(["list", "items", "append", "override"]),
};

export interface CompiledRule { enabled: boolean; output: string; name: string; file: string; line: number; conditionLine: number; filter: string; source: string; item: Item; macros: Set<string> }

interface RuleDef { item: Item; value: Record<string, unknown>; condition: string; exceptions: unknown[]; enabled: boolean; source: string }

const isStr = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const strArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

export function checkStructure(files: LoadedFile[], problems: Problem[]): CompiledRule[] {
  const err = (item: Item, line: number, message: string) => problems.push({ file: item.file, line, message, kind: "error" });
  const warn = (item: Item, line: number, message: string) => problems.push({ file: item.file, line, message, kind: "warning" });
  const defs: Defs = { macros: new Map(), lists: new Map() };
  const macroItems = new Map<string, Item>();
  const rules = new Map<string, RuleDef>();

  for (const f of files) for (const item of f.items) {
    const v = item.value;
    const kind = ["rule", "macro", "list", "required_engine_version", "required_plugin_versions"].find((k) => k in v);
    if (!kind) { err(item, item.line, `unknown item: expected one of rule, macro, list, required_engine_version, required_plugin_versions (got ${Object.keys(v).join(", ") || "a scalar"})`); continue; }
    if (kind === "required_engine_version") {
      if (!(typeof v[kind] === "number" || (typeof v[kind] === "string" && /^\d+(\.\d+){0,2}$/.test(v[kind] as string)))) err(item, item.line, "required_engine_version must be a version like 0.26.0");
      continue;
    }
    if (kind === "required_plugin_versions") {
      const list = v[kind];
      if (!Array.isArray(list) || !list.every((p) => p && typeof p === "object" && isStr((p as any).name) && isStr((p as any).version))) err(item, item.line, "required_plugin_versions must be a list of { name, version }");
      continue;
    }
    const name = v[kind];
    if (!isStr(name)) { err(item, item.line, `${kind} must have a non-empty name`); continue; }
    for (const k of Object.keys(v)) if (!KNOWN_KEYS[kind].has(k)) warn(item, keyLine(item, k), `unknown key "${k}" in ${kind} "${name}"`);
    const append = v.append === true;
    const override = v.override !== undefined && v.override !== null;
    if (v.append !== undefined && typeof v.append !== "boolean") err(item, keyLine(item, "append"), "append must be true or false");

    if (kind === "list") {
      if (!Array.isArray(v.items)) { err(item, keyLine(item, "items"), `list "${name}" needs items: [...]`); continue; }
      const items = (v.items as unknown[]).map((x) => String(x));
      const prev = defs.lists.get(name);
      if ((append || override) && !prev) err(item, item.line, `list "${name}" appends to a list that is not defined before it`);
      const mode = override ? (v.override as any)?.items : append ? "append" : "replace";
      defs.lists.set(name, mode === "append" && prev ? [...prev, ...items] : items);
      continue;
    }
    if (kind === "macro") {
      if (!isStr(v.condition)) { err(item, keyLine(item, "condition"), `macro "${name}" needs a condition`); continue; }
      const prev = defs.macros.get(name);
      if ((append || override) && prev === undefined) err(item, item.line, `macro "${name}" appends to a macro that is not defined before it`);
      const mode = override ? (v.override as any)?.condition : append ? "append" : "replace";
      defs.macros.set(name, mode === "append" && prev !== undefined ? `${prev} ${v.condition}` : v.condition as string);
      if (!(mode === "append" && prev !== undefined)) macroItems.set(name, item);
      continue;
    }
    // rule
    const prev = rules.get(name);
    const onlyEnabled = Object.keys(v).every((k) => k === "rule" || k === "enabled");
    if (append || override || onlyEnabled) {
      if (!prev) { err(item, item.line, `rule "${name}" ${onlyEnabled ? "sets enabled on" : "appends to"} a rule that is not defined before it`); continue; }
      if (typeof v.enabled === "boolean") prev.enabled = v.enabled;
      const cmode = override ? (v.override as any)?.condition : "append";
      if (isStr(v.condition)) prev.condition = cmode === "replace" ? v.condition : `${prev.condition} ${v.condition}`;
      if (Array.isArray(v.exceptions)) prev.exceptions = [...prev.exceptions, ...v.exceptions];
      if (v.priority !== undefined) checkPriority(item, v.priority, err);
      continue;
    }
    if (prev) { err(item, item.line, `duplicate rule "${name}" (first defined at ${prev.item.file}:${prev.item.line}); use append: true or override to change it`); continue; }
    let ok = true;
    for (const k of ["desc", "condition", "output", "priority"]) if (v[k] === undefined || v[k] === null || v[k] === "") { err(item, item.line, `rule "${name}" has no ${k}`); ok = false; }
    if (v.priority !== undefined && !checkPriority(item, v.priority, err)) ok = false;
    if (v.tags !== undefined && !strArray(v.tags)) err(item, keyLine(item, "tags"), `rule "${name}": tags must be a list of strings`);
    if (v.enabled !== undefined && typeof v.enabled !== "boolean") err(item, keyLine(item, "enabled"), `rule "${name}": enabled must be true or false`);
    if (v.exceptions !== undefined && !Array.isArray(v.exceptions)) { err(item, keyLine(item, "exceptions"), `rule "${name}": exceptions must be a list`); ok = false; }
    if (ok && typeof v.condition === "string") rules.set(name, { item, value: v, condition: v.condition, exceptions: (v.exceptions as unknown[]) ?? [], enabled: v.enabled !== false, source: isStr(v.source) ? v.source : "syscall" });
  }

  // Macros: syntax of every macro, used or not (Falco parses them all).
  const reported = new Set<string>();
  const report = (item: Item, fromLine: number, i: { kind: string; message: string; token: string; offset: number; inMacro?: string }) => {
    const at = i.inMacro ? macroItems.get(i.inMacro) : undefined;
    const where = at ?? item;
    const cl = keyLine(where, "condition");
    const line = i.kind === "syntax" ? offsetLine(where, cl, i.offset) : wordLine(where, cl, i.token);
    const key = `${where.file}:${line}:${i.message}`;
    if (reported.has(key)) return;
    reported.add(key);
    err(where, at ? line : Math.max(line, fromLine), i.message);
  };

  const out: CompiledRule[] = [];
  for (const [name, r] of rules) {
    const condLine = keyLine(r.item, "condition");
    const x = expand(r.condition, defs);
    for (const i of x.issues) report(r.item, condLine, i);
    const exc = exceptionsFilter(r, defs, err);
    if (x.issues.length > 0 || exc === undefined) continue;
    out.push({ enabled: r.enabled, output: typeof r.value.output === "string" ? r.value.output : "", name, file: r.item.file, line: r.item.line, conditionLine: condLine, filter: exc ? `(${x.text}) and not (${exc})` : x.text, source: r.source, item: r.item, macros: x.macros });
  }
  return out;
}

function checkPriority(item: Item, p: unknown, err: (item: Item, line: number, m: string) => void): boolean {
  if (typeof p === "string" && PRIORITIES.has(p.toLowerCase())) return true;
  err(item, keyLine(item, "priority"), `bad priority "${String(p)}": one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG`);
  return false;
}

/** Exceptions as Falco appends them: `and not ((f1 c1 v1 and f2 c2 v2) or ...)`; undefined when malformed. */
function exceptionsFilter(r: RuleDef, defs: Defs, err: (item: Item, line: number, m: string) => void): string | undefined | "" {
  const parts: string[] = [];
  const line = keyLine(r.item, "exceptions");
  for (const [i, e] of r.exceptions.entries()) {
    const ex = e as Record<string, unknown>;
    const bad = (m: string) => { err(r.item, ex && isStr(ex.name) ? wordLine(r.item, line, ex.name as string) : line, `rule "${r.item.value.rule}": exception ${i + 1}: ${m}`); return undefined; };
    if (!ex || typeof ex !== "object") return bad("must be a mapping with name, fields, comps, values");
    if (!isStr(ex.name)) return bad("has no name");
    const single = typeof ex.fields === "string";
    const fields = single ? [ex.fields as string] : ex.fields;
    if (!strArray(fields) || fields.length === 0) return bad("fields must be a field or a non-empty list of fields");
    const comps = ex.comps === undefined ? fields.map(() => (single ? "in" : "=")) : typeof ex.comps === "string" ? [ex.comps] : ex.comps;
    if (!strArray(comps) || comps.length !== fields.length) return bad(`comps must have one operator per field (${fields.length})`);
    for (const c of comps) if (!COMPS.has(c)) return bad(`unknown comparison operator "${c}"`);
    const values = ex.values ?? [];
    if (!Array.isArray(values)) return bad("values must be a list");
    const tuple = (vals: unknown[]) => fields.map((f, k) => {
      const c = comps[k], v = vals[k];
      const isList = c === "in" || c === "intersects" || c === "pmatch";
      const val = isList ? `(${(Array.isArray(v) ? v : [v]).map((x) => expandListName(x, defs)).join(", ")})` : listItem(v);
      return `${f} ${c} ${val}`;
    }).join(" and ");
    // Without values, check the fields and operators with a placeholder value.
    if (values.length === 0) { parts.push(`(${tuple(fields.map((_, k) => (comps[k] === "in" || comps[k] === "pmatch" || comps[k] === "intersects" ? ["__none__"] : "__none__")))})`); continue; }
    for (const v of values) {
      if (single) { parts.push(`(${tuple([Array.isArray(v) ? v : [v]])})`); continue; }
      if (!Array.isArray(v) || v.length !== fields.length) return bad(`each values entry must list ${fields.length} value(s), one per field`);
      parts.push(`(${tuple(v)})`);
    }
  }
  return parts.join(" or ");
}

function expandListName(x: unknown, defs: Defs): string {
  const l = defs.lists.get(String(x));
  return l ? l.map(listItem).join(", ") : listItem(x);
}
