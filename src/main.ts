/**
 * `bun run start [--config FILE] [--only a,b] [--check]`
 * Starts the host (or, with --check, validates the config like `nginx -t` and exits 0/1).
 */
import { parseArgs } from "node:util";
import { resolve as pathResolve } from "node:path";
import { Host } from "./host/host";
import { printTable } from "./host/table";
import { watchConfig } from "./host/reload";
import { loadConfig, formatErrors } from "./config/load";
import { directoryResolver, PLUGINS_DIR } from "./host/resolve";
import { runSupervisor, workerCount, workerPlugins, WORKER_ENV, WORKERS_ENV } from "./host/workers";
import { createLogger, parseLogLevel } from "./core/log";
import { checkDiff } from "./cli/check-diff";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    config: { type: "string", short: "c" },
    only: { type: "string" },
    "plugins-dir": { type: "string", multiple: true },
    check: { type: "boolean", default: false },
    diff: { type: "boolean", default: false },
    "admin-url": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log("usage: bun run start [--config FILE] [--only gateway,events] [--plugins-dir DIR]... [--check [--diff [--admin-url URL]]]");
  process.exit(0);
}

const file = values.config ?? process.env.CONFIG_FILE ?? "config.yaml";
const resolve = directoryResolver([PLUGINS_DIR, ...(values["plugins-dir"] ?? []).map((d) => pathResolve(d))]);
const only = values.only ? values.only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;

if (values.check) {
  const result = await loadConfig({ file, resolve, only });
  if (values.diff) process.exit(await checkDiff(file, result, values["admin-url"]));
  if (result.ok) {
    console.log(`${file}: configuration is valid (${result.config.plugins.map((p) => `${p.id}:${p.listener.port}`).join(", ") || "no plugins enabled"})`);
    process.exit(0);
  }
  console.error(`${file}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}\n${formatErrors(file, result.errors)}`);
  process.exit(1);
}

// host.workers > 1: this process supervises N workers (each this same command, with --only per worker).
const workerIndex = process.env[WORKER_ENV];
if (workerIndex === undefined) {
  const loaded = await loadConfig({ file, resolve, only });
  const count = loaded.ok ? workerCount(loaded.config.host.workers) : 1;
  if (loaded.ok && count > 1) {
    const all = loaded.config.plugins.map((p) => p.id);
    const log = createLogger({ level: parseLogLevel(loaded.config.host.log_level), fields: { plugin: "supervisor" } });
    const zeroPorts = loaded.config.plugins.filter((p) => p.listener.port === 0 && loaded.config.host.worker_plugins.includes(p.id)).map((p) => p.id);
    if (zeroPorts.length > 0) {
      console.error(`host.workers: ${count} needs fixed ports: ${zeroPorts.join(", ")} ${zeroPorts.length === 1 ? "has" : "have"} port 0 (each worker would bind its own)`);
      process.exit(1);
    }
    const argv = ["bun", "run", import.meta.path, "--config", file, ...(values["plugins-dir"] ?? []).flatMap((d) => ["--plugins-dir", d])];
    await runSupervisor({ count, plugins: Array.from({ length: count }, (_, i) => workerPlugins(i, all, loaded.config.host.worker_plugins)), argv, log, graceMs: loaded.config.host.shutdown_grace });
  }
}

const worker = workerIndex === undefined ? undefined : { index: Number(workerIndex), count: Number(process.env[WORKERS_ENV] ?? 1) };
const host = new Host({ file, only, resolve, worker });
try {
  printTable(await host.start());
} catch (err) {
  host.log.error("start-up failed", { error: (err as Error).message });
  console.error(`\nstart-up failed: ${(err as Error).message}\n`);
  await host.stop().catch(() => undefined);
  process.exit(1);
}

const trigger = watchConfig(file, () => host.currentConfig.host.reload_debounce, (reason) => {
  void host.reload(reason);
});

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  host.log.info("shutting down", { signal });
  trigger.close();
  await host.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
