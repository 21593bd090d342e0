/**
 * The image's HEALTHCHECK: GET /health on every port this container hosts; exit 0 only if all answer 200.
 *
 * A container may host every plugin or one (`--only security`), and Docker's HEALTHCHECK cannot see the
 * run's arguments, so this reads them from PID 1's command line (the ENTRYPOINT, exec form) and loads the
 * config exactly as the host did — same file, same --only, same environment — to learn the ports.
 * Tests (and curious operators) pass the host's arguments instead: bun deploy/healthcheck.ts --only gateway
 */
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { loadConfig } from "../src/config/load";
import { directoryResolver, PLUGINS_DIR } from "../src/host/resolve";

/** The arguments given to src/main.ts by PID 1, or [] when PID 1 is something else. */
function pid1Args(): string[] {
  try {
    const argv = readFileSync("/proc/1/cmdline", "utf8").split("\0").filter(Boolean);
    const at = argv.findIndex((a) => a.endsWith("src/main.ts"));
    return at === -1 ? [] : argv.slice(at + 1);
  } catch {
    return [];
  }
}

const given = Bun.argv.slice(2);
const { values } = parseArgs({
  args: given.length ? given : pid1Args(),
  options: { config: { type: "string", short: "c" }, only: { type: "string" }, "plugins-dir": { type: "string", multiple: true }, check: { type: "boolean" } },
  strict: false,
});

const file = (values.config as string | undefined) ?? process.env.CONFIG_FILE ?? "config.yaml";
const only = typeof values.only === "string" ? values.only.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
const result = await loadConfig({ file, only, resolve: directoryResolver(PLUGINS_DIR) });
if (!result.ok) {
  console.error(`healthcheck: ${file} does not load (${result.errors.length} errors)`);
  process.exit(1);
}

/** A wildcard bind is reached on loopback; a specific address on itself. */
const reach = (h: string) => (h === "0.0.0.0" || h === "" ? "127.0.0.1" : h === "::" ? "[::1]" : h.includes(":") ? `[${h}]` : h);

const { host, plugins } = result.config;
let targets: string[];
if (host.mtls.enabled) {
  // Every plugin port then wants a client certificate; only the plain health listener answers a bare GET.
  if (!host.mtls.health_port) {
    console.error("healthcheck: mTLS is on and host.mtls.health_port is unset: nothing answers without a certificate");
    process.exit(1);
  }
  targets = [`http://${reach(host.bind)}:${host.mtls.health_port}/health`];
} else {
  targets = plugins.map((p) => `http://${reach(p.listener.hostname)}:${p.listener.port}/health`);
}

const failed: string[] = [];
await Promise.all(targets.map(async (url) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2500) });
    if (res.status !== 200) failed.push(`${url} → ${res.status}`);
  } catch (err) {
    failed.push(`${url} → ${(err as Error).message}`);
  }
}));
if (failed.length || targets.length === 0) {
  console.error(`healthcheck: ${failed.join("; ") || "no plugin enabled"}`);
  process.exit(1);
}
console.log(`healthcheck: ok (${targets.length} port${targets.length === 1 ? "" : "s"})`);
