/**
 * Client defaults read from the same environment the platform reads (config.yaml's ${VAR:-default}):
 * a client started next to the host with the host's environment finds it without any option.
 *
 *   base URL: <SERVICE>_URL, else http(s)://<BIND_ADDRESS or 127.0.0.1>:<the plugin's port variable>
 *   tokens:   the plugin's token variables, else the token file the plugin created in DATA_DIR
 *   mTLS:     TRADPAL_TLS_CERT / _KEY / _CA, else with ENABLE_MTLS=true the host's own files in
 *             <DATA_DIR>/security (host.pem, host.key, ca.pem): https and a client certificate
 *
 * An empty variable counts as unset, as `${VAR:-default}` does in config.yaml.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileBackedTls, platformFilesIn } from "../lib/pki/platform-files";

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

/**
 * The plugin's base URL: `urlVar` wins (another host, https, a path prefix), else the plugin's port variable.
 * `secure` (platform mTLS): https — every platform listener then requires TLS, so an http:// URL is upgraded.
 */
export function serviceUrl(urlVar: string, portVar: string, defaultPort: number, env: Env = process.env, secure = false): string {
  const url = set(env, urlVar);
  if (url) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      throw new ClientConfigError(urlVar, `expected an http(s) URL such as http://127.0.0.1:${defaultPort}, got ${JSON.stringify(url)}`);
    }
    const trimmed = url.replace(/\/+$/, "");
    return secure && trimmed.startsWith("http://") ? `https://${trimmed.slice(7)}` : trimmed;
  }
  const raw = set(env, portVar);
  const port = raw === undefined ? defaultPort : Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ClientConfigError(portVar, `expected a port number 1-65535, got ${JSON.stringify(raw)}`);
  return `${secure ? "https" : "http"}://${hostFor(set(env, "BIND_ADDRESS"))}:${port}`;
}

/** The client TLS (fetch()'s and the clients' transport's `tls`): a client certificate and key (mTLS), the CA to verify the platform with. */
export interface ClientTls { cert?: string; key?: string; ca?: string }
/** Called per request: file-backed material is re-read after a renewal. */
export type TlsSource = () => ClientTls;

const TLS_VARS = { cert: "TRADPAL_TLS_CERT", key: "TRADPAL_TLS_KEY", ca: "TRADPAL_TLS_CA" } as const;

/** A TRADPAL_TLS_* value: PEM text as is, else a file path that must exist. */
function pemOrFile(name: string, value: string): { pem?: string; file?: string } {
  if (value.startsWith("-----BEGIN")) return { pem: value };
  if (!existsSync(value)) throw new ClientConfigError(name, `expected a PEM file path (or PEM text), ${JSON.stringify(value)} does not exist`);
  return { file: value };
}

/**
 * The client's TLS, or undefined for plain HTTP. An option wins (`false`: none). Else TRADPAL_TLS_CERT,
 * TRADPAL_TLS_KEY, TRADPAL_TLS_CA (each a file or PEM text; cert and key together), else, with
 * ENABLE_MTLS=true (as host.mtls.enabled), the host's own certificate in <DATA_DIR>/security — what
 * the platform's plugins present to each other, so a service started with the host's environment works.
 */
export function clientTls(option: ClientTls | false | undefined, env: Env = process.env): TlsSource | undefined {
  if (option === false) return undefined;
  if (option) return () => option;
  const vals = { cert: set(env, TLS_VARS.cert), key: set(env, TLS_VARS.key), ca: set(env, TLS_VARS.ca) };
  if (vals.cert || vals.key || vals.ca) {
    if (!vals.cert !== !vals.key) throw new ClientConfigError(vals.cert ? TLS_VARS.key : TLS_VARS.cert, `${TLS_VARS.cert} and ${TLS_VARS.key} go together (a client certificate and its key)`);
    const parts = Object.fromEntries(Object.entries(vals).filter(([, v]) => v).map(([k, v]) => [k, pemOrFile(TLS_VARS[k as keyof typeof TLS_VARS], v!)]));
    if (Object.values(parts).every((p) => p.file) && vals.cert && vals.ca) {
      const src = fileBackedTls({ cert: parts.cert.file!, key: parts.key.file!, ca: parts.ca.file! });
      return () => src.get();
    }
    const read = () => Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, p.pem ?? readFileSync(p.file!, "utf8")])) as ClientTls;
    const fixed = read();
    return () => fixed;
  }
  const raw = set(env, "ENABLE_MTLS");
  if (raw === undefined || /^false$/i.test(raw)) return undefined;
  if (!/^true$/i.test(raw)) throw new ClientConfigError("ENABLE_MTLS", `expected true or false, got ${JSON.stringify(raw)}`);
  const files = platformFilesIn(join(set(env, "DATA_DIR") ?? "./data", "security"));
  for (const f of Object.values(files)) {
    if (!existsSync(f)) throw new ClientConfigError("ENABLE_MTLS", `platform mTLS is on but ${f} does not exist (start the platform once, or set ${TLS_VARS.cert}, ${TLS_VARS.key}, ${TLS_VARS.ca})`);
  }
  const src = fileBackedTls(files);
  return () => src.get();
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
