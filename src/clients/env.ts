/**
 * Client defaults read from the same environment the platform reads (config.yaml's ${VAR:-default}):
 * a client started next to the host with the host's environment finds it without any option.
 *
 *   base URL: <SERVICE>_URL, else http://<BIND_ADDRESS or 127.0.0.1>:<the plugin's port variable>
 *   tokens:   the plugin's token variables, else the token file the plugin created in DATA_DIR
 *
 * An empty variable counts as unset, as `${VAR:-default}` does in config.yaml.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type Env = Record<string, string | undefined>;

/** A variable the platform also reads holds something it would refuse: fail at construction, not at the first call. */
export class ClientConfigError extends Error {
  readonly code = "CLIENT_ERR_CONFIG";
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ClientConfigError";
  }
}

const set = (env: Env, name: string): string | undefined => (env[name] ? env[name] : undefined);

/** Wildcard binds (the default 0.0.0.0) accept on loopback; a specific bind address is where the plugin listens. */
function hostFor(bind: string | undefined): string {
  if (!bind || bind === "0.0.0.0" || bind === "::" || bind === "[::]") return "127.0.0.1";
  return bind.includes(":") && !bind.startsWith("[") ? `[${bind}]` : bind;
}

/** The plugin's base URL: `urlVar` wins (another host, https, a path prefix), else the plugin's port variable. */
export function serviceUrl(urlVar: string, portVar: string, defaultPort: number, env: Env = process.env): string {
  const url = set(env, urlVar);
  if (url) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      throw new ClientConfigError(urlVar, `expected an http(s) URL such as http://127.0.0.1:${defaultPort}, got ${JSON.stringify(url)}`);
    }
    return url.replace(/\/+$/, "");
  }
  const raw = set(env, portVar);
  const port = raw === undefined ? defaultPort : Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ClientConfigError(portVar, `expected a port number 1-65535, got ${JSON.stringify(raw)}`);
  return `http://${hostFor(set(env, "BIND_ADDRESS"))}:${port}`;
}

/**
 * The first set variable of `vars`, else the token the plugin generated into <DATA_DIR>/<file> (0600, so
 * only readable by the user running the platform), else undefined.
 */
export function serviceToken(vars: string[], dataFile: string, env: Env = process.env): string | undefined {
  for (const v of vars) if (set(env, v)) return env[v];
  try {
    const token = readFileSync(join(set(env, "DATA_DIR") ?? "./data", dataFile), "utf8").trim();
    return token || undefined;
  } catch {
    return undefined; // no such file (platform elsewhere, never started here) or not ours to read
  }
}
