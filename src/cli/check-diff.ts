/**
 * `bun run start --check --diff [--config FILE] [--admin-url URL]`: validate the file like --check, then
 * print what it would change against the running platform, read from its GET /-/config (the first plugin
 * of the file on this machine, or --admin-url / $TRADPAL_ADMIN_URL) with the platform admin token.
 * Exit 0: valid (changes or not); 1: invalid, or the running platform could not be asked.
 */
import { readFileSync } from "node:fs";
import { formatErrors, type LoadResult } from "../config/load";
import { configView, type ConfigView } from "../host/config-view";
import { diffConfigs, formatChanges } from "../host/config-diff";
import { platformAdminToken } from "../host/config-endpoint";

export async function checkDiff(file: string, result: LoadResult, adminUrl?: string): Promise<number> {
  if (!result.ok) {
    console.error(`${file}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}\n${formatErrors(file, result.errors)}`);
    return 1;
  }
  const first = result.config.plugins[0];
  const host = first && (first.listener.hostname === "0.0.0.0" || first.listener.hostname === "::" ? "127.0.0.1" : first.listener.hostname);
  const base = adminUrl ?? process.env.TRADPAL_ADMIN_URL ?? (first ? `http://${host?.includes(":") ? `[${host}]` : host}:${first.listener.port}` : undefined);
  if (base === undefined) { console.error(`${file}: no plugin enabled, and no --admin-url: nothing to compare against`); return 1; }
  const token = platformAdminToken(process.env, result.config.host.data_dir);
  let running: { version: number; loaded_at: string; running: ConfigView };
  try {
    const res = await fetch(`${base.replace(/\/$/, "")}/-/config`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
    if (!res.ok) { console.error(`${file}: valid, but the running platform at ${base} answered ${res.status}: ${(await res.text()).slice(0, 300)}`); return 1; }
    running = await res.json();
  } catch (err) {
    console.error(`${file}: valid, but no running platform answered at ${base} (${(err as Error).message}); use --admin-url`);
    return 1;
  }
  const changes = diffConfigs(running.running, configView(result.config), readFileSync(file, "utf8"));
  const real = changes.filter((c) => c.what !== "untouched");
  console.log(`${file}: valid; against the running platform at ${base} (version ${running.version}, loaded ${running.loaded_at}): ${real.length === 0 ? "no changes" : `${real.length} change${real.length === 1 ? "" : "s"}`}`);
  if (changes.length > 0) console.log(formatChanges(file, changes));
  return 0;
}
