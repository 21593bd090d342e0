/**
 * config.yaml → interpolate env → YAML (Bun's parser) → validate every section against its TypeBox
 * schema with defaults → decode human units → freeze. Every error carries its document path, line,
 * column and reason, and all of them are reported at once.
 */
import { Value } from "@sinclair/typebox/value";
import type { TSchema } from "@sinclair/typebox";
import { interpolate } from "./interpolate";
import { locate } from "./locate";
import { HUMAN_KIND } from "./units";
import { HostSchema, ListenerSchema, LISTENER_KEYS, type HostSettings, type Listener } from "./host-schema";
import type { AnyPluginDefinition } from "../core/plugin";

export type PathSegment = string | number;

export interface ConfigError {
  path: string;
  line: number;
  column: number;
  message: string;
}

export interface PluginBlock {
  id: string;
  definition: AnyPluginDefinition;
  listener: Listener & { hostname: string };
  /** Decoded and frozen plugin settings. */
  settings: Readonly<Record<string, unknown>>;
  /** Stable identity of everything this block's instance is built from; equal → reload is a no-op. */
  fingerprint: string;
}

export interface LoadedConfig {
  file: string;
  host: Readonly<HostSettings>;
  hostFingerprint: string;
  /** In config order; only plugins that are enabled (and selected by `only`). */
  plugins: PluginBlock[];
  /** Every plugin the file enables, `only` or not (what the whole platform runs, in this process or others). */
  declared: string[];
  /** Their ports as the file gives them (hosted here or elsewhere): which URLs are the platform's own (src/host/tls.ts). */
  declaredPorts: Record<string, number>;
}

export type LoadResult = { ok: true; config: LoadedConfig } | { ok: false; errors: ConfigError[] };

export type PluginResolver = (id: string) => Promise<AnyPluginDefinition | undefined>;

export interface LoadOptions {
  file: string;
  /** The text to load; read from `file` when absent. */
  text?: string;
  env?: Record<string, string | undefined>;
  resolve: PluginResolver;
  /** Host only these plugin ids (`--only`). */
  only?: readonly string[];
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out || "(document)";
}

export function formatErrors(file: string, errors: ConfigError[]): string {
  return errors.map((e) => `${file}:${e.line}:${e.column}: ${e.path}: ${e.message}`).join("\n");
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

function pointerToSegments(pointer: string, root: unknown): PathSegment[] {
  if (pointer === "" || pointer === "/") return [];
  const segs: PathSegment[] = [];
  let cursor: any = root;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    const seg: PathSegment = Array.isArray(cursor) && /^\d+$/.test(key) ? Number(key) : key;
    segs.push(seg);
    cursor = cursor == null ? undefined : cursor[seg as any];
  }
  return segs;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const s = JSON.stringify(value);
  return s && s.length > 60 ? s.slice(0, 57) + "..." : String(s);
}

/** "a | b | c" when the schema is a union of literals (an enum), else undefined. */
function literalChoices(schema: TSchema): string | undefined {
  const anyOf = (schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (!anyOf || !anyOf.every((s) => s.const !== undefined)) return undefined;
  return anyOf.map((s) => String(s.const)).join(" | ");
}

/** Validate one section; push located errors; return the decoded value when valid. */
function validateSection(schema: TSchema, raw: unknown, base: PathSegment[], source: string, errors: ConfigError[]): unknown {
  let value: unknown = Value.Clone((raw === null || raw === undefined ? {} : raw) as object);
  value = Value.Default(schema, value);
  const seen = new Set<string>();
  let failed = false;
  for (const err of Value.Errors(schema, value)) {
    failed = true;
    const segs = [...base, ...pointerToSegments(err.path, value)];
    const path = formatPath(segs);
    // One message per place; a human-unit union reports itself instead of each branch.
    if ([...seen].some((p) => path === p || path.startsWith(p + ".") || path.startsWith(p + "["))) continue;
    seen.add(path);
    const human = (err.schema as Record<string, unknown>)[HUMAN_KIND];
    let message: string;
    const choices = literalChoices(err.schema);
    if (human) message = `expected ${human}, got ${describe(err.value)}`;
    else if (choices) message = `expected one of ${choices}, got ${describe(err.value)}`;
    else if (err.message.startsWith("Unexpected property")) message = `unknown key "${segs[segs.length - 1]}"`;
    else if (err.value === undefined && /Expected (required )?property/i.test(err.message)) message = "required";
    else message = `${err.message.replace(/^Expected/, "expected")}, got ${describe(err.value)}`;
    errors.push({ path, ...locate(source, segs), message });
  }
  if (failed) return undefined;
  try {
    return Value.Decode(schema, value);
  } catch (err) {
    errors.push({ path: formatPath(base), ...locate(source, base), message: (err as Error).message });
    return undefined;
  }
}

export async function loadConfig(opts: LoadOptions): Promise<LoadResult> {
  let source: string;
  try {
    source = opts.text ?? (await Bun.file(opts.file).text());
  } catch (err) {
    return { ok: false, errors: [{ path: "(file)", line: 0, column: 0, message: `cannot read ${opts.file}: ${(err as Error).message}` }] };
  }
  const errors: ConfigError[] = [];
  const interpolated = interpolate(source, opts.env ?? process.env);
  for (const e of interpolated.errors) {
    errors.push({ path: "(env)", line: e.line, column: e.column, message: `environment variable ${e.variable} is not set and has no default (write \${${e.variable}:-default})` });
  }

  let doc: any;
  try {
    doc = Bun.YAML.parse(interpolated.text);
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /line (\d+)(?:,? column (\d+))?/i.exec(msg) ?? /(\d+):(\d+)/.exec(msg);
    errors.push({ path: "(document)", line: pos ? Number(pos[1]) : 0, column: pos?.[2] ? Number(pos[2]) : 0, message: `YAML syntax error: ${msg}` });
    return { ok: false, errors };
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    return { ok: false, errors: [...errors, { path: "(document)", line: 1, column: 1, message: "the document must be a mapping with `host` and `plugins`" }] };
  }
  for (const key of Object.keys(doc)) {
    if (key !== "host" && key !== "plugins") errors.push({ path: key, ...locate(interpolated.text, [key]), message: `unknown top-level key "${key}" (expected host, plugins)` });
  }

  const host = validateSection(HostSchema, doc.host, ["host"], interpolated.text, errors) as HostSettings | undefined;
  const pluginsDoc = doc.plugins ?? {};
  if (typeof pluginsDoc !== "object" || Array.isArray(pluginsDoc)) {
    errors.push({ path: "plugins", ...locate(interpolated.text, ["plugins"]), message: "expected a mapping of plugin id → settings" });
    return { ok: false, errors };
  }
  if (opts.only) {
    for (const id of opts.only) if (!(id in pluginsDoc)) errors.push({ path: `plugins.${id}`, line: 0, column: 0, message: `--only names "${id}", which config.yaml does not declare` });
  }

  const plugins: PluginBlock[] = [];
  const declaredPorts: Record<string, number> = {};
  for (const [id, rawBlock] of Object.entries(pluginsDoc as Record<string, unknown>)) {
    const rawPort = Number((rawBlock as { port?: unknown } | null)?.port);
    if (Number.isInteger(rawPort) && rawPort > 0) declaredPorts[id] = rawPort;
    if (opts.only && !opts.only.includes(id)) continue;
    const base: PathSegment[] = ["plugins", id];
    const block = (rawBlock ?? {}) as Record<string, unknown>;
    if (typeof block !== "object" || Array.isArray(block)) {
      errors.push({ path: formatPath(base), ...locate(interpolated.text, base), message: "expected a mapping" });
      continue;
    }
    const listenerRaw: Record<string, unknown> = {};
    const settingsRaw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(block)) {
      if ((LISTENER_KEYS as readonly string[]).includes(k)) listenerRaw[k] = v;
      else settingsRaw[k] = v;
    }
    // A disabled plugin is not loaded at all (unless --only asks for it by name).
    if (listenerRaw.enabled === false && !opts.only) continue;
    let definition: AnyPluginDefinition | undefined;
    try {
      definition = await opts.resolve(id);
    } catch (err) {
      errors.push({ path: formatPath(base), ...locate(interpolated.text, base), message: `plugin "${id}" failed to load: ${(err as Error).message}` });
      continue;
    }
    if (!definition) {
      errors.push({ path: formatPath(base), ...locate(interpolated.text, base), message: `unknown plugin "${id}" (no plugins/${id}/index.ts)` });
      continue;
    }
    if (listenerRaw.port === undefined) listenerRaw.port = definition.defaultPort;
    const listener = validateSection(ListenerSchema, listenerRaw, base, interpolated.text, errors) as Listener | undefined;
    const settings = validateSection(definition.schema, settingsRaw, base, interpolated.text, errors);
    if (!listener || settings === undefined) continue;
    declaredPorts[id] = listener.port;
    plugins.push({
      id,
      definition,
      listener: { ...listener, hostname: listener.hostname ?? host?.bind ?? "0.0.0.0" },
      settings: deepFreeze(settings as Record<string, unknown>),
      fingerprint: stableStringify(settings),
    });
  }

  if (errors.length > 0 || !host) return { ok: false, errors };
  const declared = Object.entries(pluginsDoc as Record<string, unknown>).filter(([, b]) => (b as { enabled?: unknown } | null)?.enabled !== false).map(([id]) => id);
  return { ok: true, config: { file: opts.file, host: deepFreeze(host), hostFingerprint: stableStringify(host), plugins, declared, declaredPorts } };
}

/** JSON with sorted keys, so two equal configs give equal strings whatever the key order in YAML. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(v).sort()) sorted[key] = v[key];
      return sorted;
    }
    return v;
  });
}
