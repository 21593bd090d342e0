/**
 * GET /-/config on every plugin port (host-served, like /health): the running configuration (secrets as
 * digests), its version, hash and load time, the last refused or failed reload with its errors, and what
 * the file on disk would change now (config-diff.ts). An operator's view: it needs the platform admin token
 * ($TRADPAL_ADMIN_TOKEN, else $SECURITY_ADMIN_TOKEN, else <data_dir>/security/admin-token).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { timingSafeEqual } from "node:crypto";
import { loadConfig, type ConfigError, type LoadedConfig, type PluginResolver } from "../config/load";
import { HostErrors } from "../core/errors";
import { configView, viewHash } from "./config-view";
import { diffConfigs } from "./config-diff";

export interface ReloadRecord { version: number; loadedAt: number }
export interface FailureRecord { at: number; stage: string; errors: { path?: string; line?: number; message: string }[] }

export interface ConfigEndpointDeps {
  file: string;
  env: Record<string, string | undefined>;
  resolve: PluginResolver;
  only?: readonly string[];
  current(): LoadedConfig;
  applied(): ReloadRecord;
  lastFailure(): FailureRecord | undefined;
}

/** The platform admin token this host accepts, read at each call (the file may appear after start). */
export function platformAdminToken(env: Record<string, string | undefined>, dataDir: string): string | undefined {
  const fromEnv = env.TRADPAL_ADMIN_TOKEN || env.SECURITY_ADMIN_TOKEN;
  if (fromEnv) return fromEnv;
  try { return readFileSync(join(dataDir, "security", "admin-token"), "utf8").trim() || undefined; } catch { return undefined; }
}

function bearerMatches(req: Request, token: string): boolean {
  const h = req.headers.get("authorization") ?? "";
  const given = Buffer.from(h.startsWith("Bearer ") ? h.slice(7).trim() : "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function configEndpoint(d: ConfigEndpointDeps): (req: Request) => Promise<Response> {
  return async (req) => {
    const token = platformAdminToken(d.env, d.current().host.data_dir);
    if (token === undefined || !bearerMatches(req, token)) {
      return HostErrors.HOST_ERR_UNAUTHORIZED(token === undefined ? "no platform admin token is set (TRADPAL_ADMIN_TOKEN, SECURITY_ADMIN_TOKEN or <data_dir>/security/admin-token)" : "GET /-/config needs the platform admin token (Authorization: Bearer ...)").toResponse({ "www-authenticate": 'Bearer realm="tradpal"' });
    }
    const running = configView(d.current());
    const applied = d.applied();
    const fail = d.lastFailure();
    let onDisk: { changes?: ReturnType<typeof diffConfigs>; errors?: ConfigError[] };
    try {
      const text = readFileSync(d.file, "utf8");
      const loaded = await loadConfig({ file: d.file, text, env: d.env, resolve: d.resolve, only: d.only });
      onDisk = loaded.ok ? { changes: diffConfigs(running, configView(loaded.config), text).filter((c) => c.what !== "untouched") } : { errors: loaded.errors };
    } catch (err) {
      onDisk = { errors: [{ path: "", line: 0, column: 0, message: `cannot read ${d.file}: ${(err as Error).message}` }] };
    }
    return Response.json({
      file: d.file,
      version: applied.version,
      hash: viewHash(running),
      loaded_at: new Date(applied.loadedAt).toISOString(),
      last_failure: fail ? { at: new Date(fail.at).toISOString(), stage: fail.stage, errors: fail.errors } : null,
      file_on_disk: onDisk.errors ? { valid: false, errors: onDisk.errors } : { valid: true, changes: onDisk.changes },
      running,
    }, { headers: { "cache-control": "no-store" } });
  };
}
