/**
 * `bun run start [--config FILE] [--only a,b] [--check]`
 * Starts the host (or, with --check, validates the config like `nginx -t` and exits 0/1).
 */
import { parseArgs } from "node:util";
import { resolve as pathResolve } from "node:path";
import { Host, printTable } from "./host/host";
import { watchConfig } from "./host/reload";
import { loadConfig, formatErrors } from "./config/load";
import { directoryResolver, PLUGINS_DIR } from "./host/resolve";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    config: { type: "string", short: "c" },
    only: { type: "string" },
    "plugins-dir": { type: "string", multiple: true },
    check: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  console.log("usage: bun run start [--config FILE] [--only gateway,events] [--plugins-dir DIR]... [--check]");
  process.exit(0);
}

const file = values.config ?? process.env.CONFIG_FILE ?? "config.yaml";
const resolve = directoryResolver([PLUGINS_DIR, ...(values["plugins-dir"] ?? []).map((d) => pathResolve(d))]);
const only = values.only ? values.only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;

if (values.check) {
  const result = await loadConfig({ file, resolve, only });
  if (result.ok) {
    console.log(`${file}: configuration is valid (${result.config.plugins.map((p) => `${p.id}:${p.listener.port}`).join(", ") || "no plugins enabled"})`);
    process.exit(0);
  }
  console.error(`${file}: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}\n${formatErrors(file, result.errors)}`);
  process.exit(1);
}

const host = new Host({ file, only, resolve });
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
