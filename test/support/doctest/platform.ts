/**
 * The live platform the manuals' examples run against: `bun run src/main.ts` as a child process, from
 * a copy of the shipped config.yaml, in a working directory that looks like a fresh clone (every
 * top-level entry of the repository linked, except data/), so `cat data/security/admin-token`,
 * `bun run users …` and `import "./src/clients/…"` work as written.
 *
 * Ports: config.yaml reads every plugin port from the environment (${API_GATEWAY_PORT:-8000}…), so
 * the platform gets free ports and `mapPorts` rewrites an example's documented port (localhost:8000)
 * to the live one; nothing else of an example changes. The trading example backend the shipped config
 * names (127.0.0.1:9001 and :9002) is served here with SO_REUSEPORT, so two runs at once share it.
 * Everything binds 127.0.0.1.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { freePort } from "../harness";

/** Documented port → the environment variable config.yaml reads it from. */
export const PORT_VARS: Record<number, string> = {
  8000: "API_GATEWAY_PORT", 8009: "SECURITY_SERVICE_PORT", 8011: "EVENT_SERVICE_PORT", 8012: "CIRCUIT_BREAKER_PORT", 8013: "FALCO_SERVICE_PORT",
};
const BACKEND_PORTS = [9001, 9002];
const NOT_LINKED = new Set(["data", ".git", "test-output"]);

export interface Platform {
  /** The working directory (a fresh clone's shape); DATA_DIR is <dir>/data. */
  dir: string;
  /** The environment examples run with: the platform's own variables, nothing inherited that could configure it. */
  env: Record<string, string>;
  /** "localhost:8011" → "127.0.0.1:<live port>" for every documented port. */
  mapPorts(code: string): string;
  /** Everything the host printed so far (start-up table, first-login password, logs). */
  output(): string;
  stop(): Promise<void>;
}

function exampleBackend(port: number): Server<undefined> {
  return Bun.serve({
    port, hostname: "127.0.0.1", reusePort: true,
    fetch: (req) => Response.json({ service: "trading", instance: port, path: new URL(req.url).pathname }),
  });
}

/** `extraEnv`: settings of the run on top of the platform's own variables (e.g. ENABLE_MTLS=true for test/mtls-e2e.test.ts). */
export async function startPlatform(root: string, extraEnv: Record<string, string> = {}): Promise<Platform> {
  const dir = mkdtempSync(join(tmpdir(), "tradpal-doctest-"));
  for (const entry of readdirSync(root)) {
    if (NOT_LINKED.has(entry)) continue;
    if (entry === "config.yaml") copyFileSync(join(root, entry), join(dir, entry)); // a file others may edit meanwhile
    else symlinkSync(join(root, entry), join(dir, entry));
  }
  const ports = Object.fromEntries(Object.keys(PORT_VARS).map((p) => [Number(p), freePort()]));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? dir, LANG: "C.UTF-8", TMPDIR: tmpdir(),
    DATA_DIR: join(dir, "data"), BIND_ADDRESS: "127.0.0.1", REDIS_URL: "", LOG_LEVEL: "info",
    ...Object.fromEntries(Object.entries(PORT_VARS).map(([p, v]) => [v, String(ports[Number(p)])])),
    ...extraEnv,
  };
  let backends: Server<undefined>[] = [];
  try {
    backends = BACKEND_PORTS.map(exampleBackend);
  } catch (err) {
    for (const b of backends) b.stop(true);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the trading example backend cannot listen on 127.0.0.1:${BACKEND_PORTS.join("/")} (config.yaml names them): ${(err as Error).message}`);
  }
  let printed = "";
  const proc = Bun.spawn([process.execPath, "run", "src/main.ts"], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => { for await (const chunk of stream) printed += new TextDecoder().decode(chunk); })();
  }
  const stop = async () => {
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await proc.exited;
    clearTimeout(killer);
    for (const b of backends) b.stop(true);
    rmSync(dir, { recursive: true, force: true });
  };
  // Up when every enabled plugin's port answers (the start-up table is printed after the last one binds).
  const deadline = Date.now() + 30_000;
  while (!printed.includes("TradPal infrastructure host")) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`the platform did not start (exit ${proc.exitCode}):\n${printed.slice(-4000)}`);
    }
    await Bun.sleep(50);
  }
  return {
    dir,
    env,
    mapPorts: (code) => code.replace(/\b(?:localhost|127\.0\.0\.1):(80(?:00|09|11|12|13))\b/g, (_m, p: string) => `127.0.0.1:${ports[Number(p)]}`),
    output: () => printed,
    stop,
  };
}
