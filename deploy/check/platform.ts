/**
 * What the deploy files must agree with, read from a config file the way the host reads it: every
 * `${VAR:-default}` resolved to its default (a deployment that sets no variable gets exactly these ports),
 * plugins that are enabled, and which variables each block reads (an env var given to the gateway's
 * container must be one that host: or plugins.gateway: reads, or it does nothing there).
 */
import { interpolate, commentStart } from "../../src/config/interpolate";

export interface PlatformPlugin {
  id: string;
  /** The port with every variable at its default. */
  port: number;
  /** The variable that overrides it (`port: ${API_GATEWAY_PORT:-8000}` → API_GATEWAY_PORT), if any. */
  portVar?: string;
}

export interface Platform {
  plugins: PlatformPlugin[];
  /** Variables read by host: (every process) and by each plugins.<id>: block. */
  varsOf: (pluginId: string) => Set<string>;
  allVars: Set<string>;
}

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g;

export function readPlatform(text: string): Platform {
  const resolved = interpolate(text, {});
  if (resolved.errors.length) throw new Error(`config needs ${resolved.errors.map((e) => e.variable).join(", ")} set (no default)`);
  const doc = Bun.YAML.parse(resolved.text) as { plugins?: Record<string, { port?: number; enabled?: boolean } | null> };
  const raw = Bun.YAML.parse(text) as { plugins?: Record<string, { port?: unknown } | null> };

  const plugins: PlatformPlugin[] = [];
  for (const [id, block] of Object.entries(doc.plugins ?? {})) {
    if (block?.enabled === false) continue;
    if (typeof block?.port !== "number") throw new Error(`plugins.${id}.port is not a fixed number at its defaults`);
    const portVar = /^\$\{([A-Z_0-9]+)/.exec(String(raw.plugins?.[id]?.port ?? ""))?.[1];
    plugins.push({ id, port: block.port, ...(portVar ? { portVar } : {}) });
  }

  // Which top-level block (host, or plugins.<id>) each line belongs to, by indentation.
  const byBlock = new Map<string, Set<string>>();
  let top = "";
  let block = "";
  for (const line of text.split("\n")) {
    const hash = commentStart(line);
    const body = hash === -1 ? line : line.slice(0, hash);
    const key = /^( {0,2})([A-Za-z_][\w-]*):/.exec(body);
    if (key?.[1] === "") top = block = key[2]!;
    else if (key?.[1] === "  " && top === "plugins") block = `plugins.${key[2]}`;
    for (const m of body.matchAll(VAR_RE)) {
      if (!byBlock.has(block)) byBlock.set(block, new Set());
      byBlock.get(block)!.add(m[1]!);
    }
  }
  const allVars = new Set([...byBlock.values()].flatMap((s) => [...s]));
  const varsOf = (id: string) => new Set([...(byBlock.get("host") ?? []), ...(byBlock.get(`plugins.${id}`) ?? [])]);
  return { plugins, varsOf, allVars };
}
