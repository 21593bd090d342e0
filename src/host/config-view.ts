/**
 * The running configuration as an operator may see it (GET /-/config) and as `--check --diff` compares it:
 * the effective, validated settings of the host and of each plugin, with every secret replaced by a short
 * digest — a changed secret still shows as a change, its value never leaves the process.
 */
import { createHash } from "node:crypto";
import type { LoadedConfig } from "../config/load";

export interface ConfigView {
  host: Record<string, unknown>;
  plugins: Record<string, { port: number; hostname: string; settings: Record<string, unknown> }>;
}

/** Keys whose values are credentials (admin tokens, JWT secrets, passwords, keys, the KEK...). */
const SECRET_KEY = /(token|secret|password|passwd|kek|private_key|api_key|^key$|_key$)/i;
/** Keys that name a file or a setting about secrets, not a secret itself. */
const NOT_SECRET = /(_file|_dir|_url|_ttl|_header|_channel|_path|_prefix|_bytes|_size|_length|_scopes?)$/i;

export function digest(value: string): string {
  return "sha256:" + createHash("sha256").update(value).digest("hex").slice(0, 12);
}

function redact(value: unknown, key = ""): unknown {
  if (typeof value === "string" && value !== "" && SECRET_KEY.test(key) && !NOT_SECRET.test(key)) return digest(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redact(v, k);
    return out;
  }
  return value;
}

export function configView(config: LoadedConfig): ConfigView {
  const plugins: ConfigView["plugins"] = {};
  for (const b of config.plugins) plugins[b.id] = { port: b.listener.port, hostname: b.listener.hostname, settings: redact(b.settings) as Record<string, unknown> };
  return { host: redact(config.host) as Record<string, unknown>, plugins };
}

/** A stable hash of a view (what changed when it changes). */
export function viewHash(view: ConfigView): string {
  return digest(stable(view));
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v !== null && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}
